"""The scenarios, one module each, and the helpers they share.

A scenario is a module with ``NAME``, ``TITLE`` and ``run(settings) -> dict``;
the dict is one table of the report (see :func:`table`), JSON-ready.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..peers import package_of
from ..runner import BenchError, Settings, Worker, interleave, summarize

__all__ = [
    "ORDER",
    "Contender",
    "available",
    "load",
    "measure_rate",
    "size_label",
    "size_table",
    "table",
    "throughput_rows",
]

#: Scenario modules, in the order a full run takes them.
ORDER = ("pair", "server", "client", "concurrency", "compression", "idle")


def load(name: str) -> Any:
    """Import the module of scenario ``name``."""
    return importlib.import_module(f"{__name__}.{name}")


def size_label(size: int) -> str:
    """16 B, 1 KiB, 64 KiB, 1 MiB."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


_IMPORT_NAMES = {"websockets": "websockets", "aiohttp": "aiohttp", "websocket-client": "websocket"}


def available(implementation: str) -> str | None:
    """``None`` if the implementation can run here, else why not."""
    package = package_of(implementation)
    module = _IMPORT_NAMES.get(package or "")
    if module is not None and importlib.util.find_spec(module) is None:
        return f"{package} is not installed (pip install -e '.[bench]')"
    return None


@dataclass
class Contender:
    """One row of a throughput table: a worker that runs round trips on command."""

    implementation: str
    driver: Worker
    kind: str = "binary"
    pool: int = 1


def measure_rate(settings: Settings) -> Callable[[Contender, int], float]:
    """The measure function of :func:`~bench.runner.interleave`: round trips per second."""

    def measure(contender: Contender, size: int) -> float:
        answer = contender.driver.call(
            "run",
            settings.run_timeout,
            size=size,
            duration=settings.duration,
            warmup=settings.warmup,
            kind=contender.kind,
            **({"pool": contender.pool} if contender.pool > 1 else {}),
        )
        return float(answer["count"]) / float(answer["elapsed"])

    return measure


def setup_all(
    implementations: Sequence[str],
    settings: Settings,
    start: Callable[[str], Contender],
    errors: dict[str, str],
) -> list[Contender]:
    """Start the processes of each wanted implementation; record why others can't run."""
    contenders = []
    for implementation in implementations:
        if not settings.wants(implementation):
            continue
        reason = available(implementation)
        if reason is not None:
            errors[implementation] = reason
            continue
        try:
            contenders.append(start(implementation))
        except BenchError as exc:
            errors[implementation] = str(exc)
    return contenders


def throughput_rows(
    contenders: Sequence[Contender],
    sizes: Sequence[int],
    settings: Settings,
    errors: dict[str, str],
    *,
    repeats: int | None = None,
) -> list[dict[str, Any]]:
    """Measure round trips per second, interleaved; one row per contender."""

    def on_error(contender: Contender, size: int, exc: BenchError) -> None:
        errors.setdefault(contender.implementation, f"{size_label(size)}: {exc}")

    samples = interleave(
        contenders,
        sizes,
        settings.repeats if repeats is None else repeats,
        measure_rate(settings),
        on_error=on_error,
    )
    rows = []
    for index, contender in enumerate(contenders):
        cells = {}
        for size in sizes:
            values = samples.get((index, size))
            if values:
                cell = summarize(values)
                cell["mb_s"] = cell["median"] * size / 1e6
                cells[size_label(size)] = cell
        rows.append({"implementation": contender.implementation, "cells": cells})
    return rows


def table(
    name: str,
    title: str,
    *,
    columns: Sequence[str],
    rows: list[dict[str, Any]],
    errors: dict[str, str],
    notes: Sequence[str],
    metric: str,
    pinned: bool,
    started: float,
    sizes: Sequence[int] = (),
) -> dict[str, Any]:
    """Assemble one scenario's table; rows that failed keep their error."""
    known = {row["implementation"] for row in rows}
    for implementation, error in errors.items():
        if implementation in known:
            next(r for r in rows if r["implementation"] == implementation)["error"] = error
        else:
            rows.append({"implementation": implementation, "cells": {}, "error": error})
    return {
        "name": name,
        "title": title,
        "metric": metric,
        "pinned": pinned,
        "columns": list(columns),
        "sizes": list(sizes),
        "rows": rows,
        "notes": list(notes),
        "seconds": round(time.perf_counter() - started, 1),
    }


def size_table(
    name: str,
    title: str,
    sizes: Sequence[int],
    rows: list[dict[str, Any]],
    errors: dict[str, str],
    *,
    notes: Sequence[str],
    pinned: bool,
    started: float,
) -> dict[str, Any]:
    """A table of round trips per second with one column per message size."""
    return table(
        name,
        title,
        columns=[size_label(size) for size in sizes],
        sizes=sizes,
        rows=rows,
        errors=errors,
        notes=notes,
        metric="round trips/s",
        pinned=pinned,
        started=started,
    )
