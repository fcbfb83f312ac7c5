"""Profile one cell with py-spy: ``python -m bench.profile SCENARIO IMPLEMENTATION SIZE``.

The processes of the implementation under test run under ``py-spy record
--gil``: only the thread holding the GIL is sampled, so the samples show
where Python time goes (system calls that release the GIL, such as
``send`` and ``recv``, and waits are not in them). The other side of the
cell runs as usual. Examples::

    python -m bench.profile pair ours-sync 16          # client and server profiles
    python -m bench.profile pair ours-asyncio 16
    python -m bench.profile server ours-sync 1024 --connections 50
    python -m bench.profile client ours-sync 1048576

Each profile is saved as collapsed stacks (``*.txt``, for flamegraph.pl or
speedscope) and summarised: the functions where samples land (self) and the
functions on the stack (inclusive), in percent of the process's samples.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from .runner import ROOT, Pool, Settings, Worker
from .scenarios import size_label

__all__ = ["main", "summarize_collapsed"]

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")


def _short(frame: str, *, line: bool = False) -> str:
    """``function (path/to/file.py:12)`` -> ``file.py:function``, with the package dir."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = "stdlib/" + path.split("/", 1)[1]
            break
    name = f"{path}:{match['function']}"
    return f"{name}:{match['line']}" if line and match["line"] else name


def summarize_collapsed(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive percentages per function, and hot lines, from a py-spy raw file."""
    own: collections.Counter[str] = collections.Counter()
    lines: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for text in path.read_text().splitlines():
        stack, _, count_text = text.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        raw = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not raw:
            continue
        frames = [_short(frame) for frame in raw]
        total += count
        own[frames[-1]] += count
        lines[_short(raw[-1], line=True)] += count
        for frame in set(frames):
            inclusive[frame] += count

    def percent(counter: collections.Counter[str], n: int = top) -> list[tuple[str, float]]:
        return [(name, 100 * k / total) for name, k in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "self": percent(own),
        "lines": percent(lines, 10),
        "inclusive": percent(inclusive),
    }


def _format(title: str, summary: dict[str, Any], possible: float) -> str:
    held = 100 * summary["samples"] / possible if possible else 0
    lines = [f"== {title}: {summary['samples']} samples, GIL held {held:.0f}% of the time"]
    lines.append("   self%  function (where the samples land)")
    lines.extend(f"  {p:6.1f}  {name}" for name, p in summary["self"])
    lines.append("   self%  line")
    lines.extend(f"  {p:6.1f}  {name}" for name, p in summary["lines"])
    lines.append("   incl%  function (on the stack)")
    lines.extend(f"  {p:6.1f}  {name}" for name, p in summary["inclusive"])
    return "\n".join(lines)


class _ProfiledPool(Pool):
    """A pool whose workers of one implementation run under ``py-spy record``."""

    def __init__(self, settings: Settings, implementation: str, output: Path, rate: int) -> None:
        super().__init__(settings)
        self.implementation = implementation
        self.output = output
        self.rate = rate
        self.profiles: list[tuple[str, Path]] = []

    def start(self, name: str, args: Any, *, pinned: bool) -> Worker:
        if self.implementation not in args:
            return super().start(name, args, pinned=pinned)
        profile = self.output / f"{name.replace(' ', '-')}.txt"
        self.profiles.append((name, profile))
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        prefix = [
            py_spy,
            "record",
            "--gil",
            "--format",
            "raw",
            "--rate",
            str(self.rate),
            "--output",
        ]
        prefix += [str(profile), "--", sys.executable]
        log = self.log_dir / f"{len(self.workers):03d}-{name.replace(' ', '_')}.log"
        worker = Worker(args, self.settings.cpu if pinned else None, log, name, prefix=prefix)
        self.workers.append(worker)
        worker.wait_ready()
        return worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("scenario", choices=["pair", "server", "client"])
    parser.add_argument("implementation")
    parser.add_argument("size", type=int)
    parser.add_argument("--connections", type=int, default=1, help="server scenario only")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "profiles")
    args = parser.parse_args(argv)

    settings = Settings()
    settings.cpu = max(__import__("os").sched_getaffinity(0))
    pinned = args.connections == 1
    label = f"{args.scenario}-{args.implementation}-{size_label(args.size).replace(' ', '')}"
    if args.connections > 1:
        label += f"-{args.connections}conns"
    output = args.output / label
    output.mkdir(parents=True, exist_ok=True)
    implementation = args.implementation

    with _ProfiledPool(settings, implementation, output, args.rate) as pool:
        if args.scenario == "pair":
            server = pool.server(implementation, pinned=True)
            driver = pool.client(implementation, server.info["port"], pinned=True)
        elif args.scenario == "server":
            server = pool.server(implementation, pinned=pinned)
            driver = pool.loadgen(server.info["port"], pinned=pinned, count=args.connections)
        else:
            server = pool.server("fast", pinned=True)
            driver = pool.client(implementation, server.info["port"], pinned=True)
        answer = driver.call(
            "run", 120 + args.duration, size=args.size, duration=args.duration, warmup=0.2
        )
        rate = answer["count"] / answer["elapsed"]
        profiles = list(pool.profiles)
    print(f"{label}: {rate:,.0f} round trips/s while profiled ({args.duration:g} s)")
    for name, path in profiles:
        if path.exists():
            summary = summarize_collapsed(path)
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            print(_format(f"{name} ({shown})", summary, args.rate * (args.duration + 0.2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
