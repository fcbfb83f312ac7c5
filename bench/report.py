"""The results as a text table, Markdown, JSON and a PNG chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_text", "markdown", "restructuredtext", "write_all", "write_chart"]

_COLORS = {
    "ours-sync": "#1f77b4",
    "ours-asyncio": "#6baed6",
    "websockets-sync": "#d62728",
    "websockets-asyncio": "#ff9896",
    "aiohttp": "#2ca02c",
    "websocket-client": "#9467bd",
    "fast": "#7f7f7f",
    "raw": "#222222",
}


def _rate(cell: dict[str, Any] | None) -> str:
    if not cell or cell.get("median") is None:
        return "-"
    text = f"{cell['median']:,.0f}"
    if "mb_s" in cell:
        mb_s = cell["mb_s"]
        text += f" ({mb_s:.2f})" if mb_s < 10 else f" ({mb_s:,.0f})"
    return text


_IDLE_FORMATS = {
    "connections": "{:,.0f}",
    "open s": "{:.1f}",
    "opened/s": "{:,.0f}",
    "RSS KiB/conn": "{:.1f}",
    "threads/conn": "{:.2f}",
    "fds/conn": "{:.2f}",
    "release s": "{:.2f}",
}


def _cell_text(table: dict[str, Any], column: str, cell: dict[str, Any] | None) -> str:
    if table["name"] == "idle":
        if not cell or cell.get("median") is None:
            return "-" if not cell else f"> {table.get('release_limit', 0):g}"
        return _IDLE_FORMATS.get(column, "{:g}").format(cell["median"])
    return _rate(cell)


def _grid(table: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows of text and footnotes (errors) of a table."""
    header = ["implementation", *table["columns"]]
    rows = []
    footnotes = []
    for row in table["rows"]:
        name = row.get("label", row["implementation"])
        cells = [_cell_text(table, column, row["cells"].get(column)) for column in table["columns"]]
        if row.get("error"):
            footnotes.append(f"{name}: {row['error'].splitlines()[0]}")
            name += " *"
        rows.append([name, *cells])
    return header, rows, footnotes


def _align(cells: Sequence[str], widths: Sequence[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
    return "  ".join([first, *rest])


def format_text(results: dict[str, Any]) -> str:
    """The whole report as plain text, for stdout."""
    lines = []
    for table in results["scenarios"].values():
        header, rows, footnotes = _grid(table)
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
        lines.append(f"== {table['title']} ({table['seconds']:.0f} s)")
        for note in table["notes"]:
            lines.append(f"   {note}")
        lines.append("")
        lines.append(_align(header, widths))
        lines.append("  ".join("-" * width for width in widths))
        lines.extend(_align(row, widths) for row in rows)
        lines.extend(f"   * {note}" for note in footnotes)
        lines.append("")
    targets = results.get("targets") or []
    if targets:
        lines.append("== Targets (issue 5)")
        for target in targets:
            status = {True: "met   ", False: "MISSED", None: "n/a   "}[target["met"]]
            measured = _measured_text(target["measured"])
            lines.append(f"   {status} {target['target']}: {measured} ({target['required']})")
        lines.append("")
    return "\n".join(lines)


def _measured_text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else f"{value:g}"


def markdown(results: dict[str, Any]) -> str:
    """The tables and targets in Markdown, for README.md."""
    parts = []
    for table in results["scenarios"].values():
        header, rows, footnotes = _grid(table)
        notes = "; ".join(table["notes"])
        parts.append(f"**{table['title']}.** {notes[:1].upper()}{notes[1:]}.\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
        parts.extend("| " + " | ".join(row) + " |" for row in rows)
        parts.extend(f"\n\\* {note}" for note in footnotes)
        parts.append("")
    targets = results.get("targets") or []
    if targets:
        parts.append("| target | measured | required | |")
        parts.append("|:---|---:|---:|:---|")
        for target in targets:
            status = {True: "met", False: "**missed**", None: "n/a"}[target["met"]]
            measured = _measured_text(target["measured"])
            parts.append(f"| {target['target']} | {measured} | {target['required']} | {status} |")
        parts.append("")
    return "\n".join(parts)


def _simple_table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """A reST simple table: compact, and readable as plain text too."""
    # A lone "-" would read as a bullet list: use an en dash.
    escaped = [
        ["\u2013" if cell == "-" else cell.replace("*", "\\*") for cell in line]
        for line in [header, *rows]
    ]
    widths = [max(len(line[i]) for line in escaped) for i in range(len(header))]
    border = "   " + "  ".join("=" * width for width in widths)

    def line(cells: list[str]) -> str:
        return ("   " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip()

    return [
        f".. table:: {title}",
        "",
        border,
        line(escaped[0]),
        border,
        *(line(cells) for cells in escaped[1:]),
        border,
        "",
    ]


def restructuredtext(results: dict[str, Any]) -> str:
    """The tables and targets as reST, for docs/topics/performance.rst."""
    parts = []
    for table in results["scenarios"].values():
        header, rows, footnotes = _grid(table)
        parts.extend(_simple_table(table["title"], header, rows))
        notes = "; ".join(table["notes"])
        parts.append(notes[:1].upper() + notes[1:] + ".")
        parts.append("")
        parts.extend(f"\\* {note}\n" for note in footnotes)
    targets = results.get("targets") or []
    if targets:
        rows = []
        for target in targets:
            status = {True: "met", False: "MISSED", None: "n/a"}[target["met"]]
            rows.append(
                [target["target"], _measured_text(target["measured"]), target["required"], status]
            )
        parts.extend(
            _simple_table("Targets of issue 5", ["target", "measured", "required", "status"], rows)
        )
    return "\n".join(parts)


def write_chart(results: dict[str, Any], path: Path) -> bool:
    """Draw one panel per scenario; ``False`` if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tables = list(results["scenarios"].values())
    columns = 2 if len(tables) > 1 else 1
    lines = -(-len(tables) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(7 * columns, 3.6 * lines), squeeze=False)
    for axis in axes.flat[len(tables) :]:
        axis.set_visible(False)
    for axis, table in zip(axes.flat, tables, strict=False):
        if table["name"] == "idle":
            _idle_panel(axis, table)
        else:
            _rate_panel(axis, table)
    figure.suptitle(
        f"websockets_sync benchmarks — {results['meta']['date']} — "
        f"{results['meta']['cpus']} CPUs, Python {results['meta']['python']}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _rate_panel(axis: Any, table: dict[str, Any]) -> None:
    rows = [row for row in table["rows"] if row["cells"]]
    columns = table["columns"]
    width = 0.8 / max(1, len(rows))
    for index, row in enumerate(rows):
        values = [(row["cells"].get(column) or {}).get("median") or 0 for column in columns]
        positions = [i + (index - (len(rows) - 1) / 2) * width for i in range(len(columns))]
        axis.bar(
            positions,
            values,
            width,
            label=row["implementation"],
            color=_COLORS.get(row["implementation"]),
        )
    axis.set_xticks(range(len(columns)), columns, fontsize=8)
    axis.set_yscale("log")
    axis.set_ylabel("round trips/s (log)", fontsize=8)
    axis.set_title(table["title"] + (" [pinned]" if table["pinned"] else ""), fontsize=9)
    axis.tick_params(axis="y", labelsize=8)
    axis.grid(axis="y", which="both", alpha=0.3)
    axis.legend(fontsize=6, ncol=2)


def _idle_panel(axis: Any, table: dict[str, Any]) -> None:
    rows = [row for row in table["rows"] if row["cells"]]
    names = []
    for row in rows:
        reached = (row["cells"].get("connections") or {}).get("median") or 0
        name = row["implementation"].replace("websockets-", "websockets-\n")
        if row.get("error"):
            name += f"\n(failed at {reached:,.0f})"
        elif row.get("scale") == "comparison":
            name += f"\n(at {reached:,.0f})"
        names.append(name)
    memory = [(row["cells"].get("RSS KiB/conn") or {}).get("median") or 0 for row in rows]
    rate = [(row["cells"].get("opened/s") or {}).get("median") or 0 for row in rows]
    positions = range(len(rows))
    axis.bar(
        [p - 0.2 for p in positions],
        memory,
        0.4,
        color=[_COLORS.get(row["implementation"]) for row in rows],
        label="RSS KiB per connection",
    )
    axis.set_ylabel("RSS KiB per connection (solid)", fontsize=8)
    axis.set_xticks(list(positions), names, fontsize=7)
    other = axis.twinx()
    other.bar(
        [p + 0.2 for p in positions],
        rate,
        0.4,
        color=[_COLORS.get(row["implementation"]) for row in rows],
        alpha=0.4,
        hatch="//",
        label="connections opened per second",
    )
    other.set_ylabel("opened per second (hatched)", fontsize=8)
    count = rows[0]["cells"].get("connections", {}).get("median") if rows else 0
    axis.set_title(f"{table['title']} ({count:,.0f} each)", fontsize=9)


def write_all(results: dict[str, Any], directory: Path, stem: str) -> list[Path]:
    """Write ``stem``.json, .txt, .md, .rst and .png into ``directory``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    json_path = directory / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    paths.append(json_path)
    text_path = directory / f"{stem}.txt"
    text_path.write_text(format_text(results))
    paths.append(text_path)
    markdown_path = directory / f"{stem}.md"
    markdown_path.write_text(markdown(results))
    paths.append(markdown_path)
    rst_path = directory / f"{stem}.rst"
    rst_path.write_text(restructuredtext(results))
    paths.append(rst_path)
    chart_path = directory / f"{stem}.png"
    if write_chart(results, chart_path):
        paths.append(chart_path)
    return paths
