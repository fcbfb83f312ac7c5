"""Run the benchmarks: ``python -m bench [--quick] [--only SCENARIO] ...``.

A full run takes about 15 minutes on a 2-CPU machine and writes
``bench/results/latest.{json,txt,md,png}``; partial runs (``--quick``,
``--only``, ``--impl``, ...) write ``partial.*`` instead, so that they never
overwrite the published results.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from websockets_sync import protocol
from websockets_sync.sansio import frames

from . import report, scenarios, targets, wire
from .peers import CLIENTS, SERVERS, package_versions
from .runner import ROOT, Settings
from .worker import raise_nofile_limit

__all__ = ["main"]


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(int(item) for item in text.split(",") if item)


def _name_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark websockets_sync against websockets, aiohttp and websocket-client.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: short samples, few repeats, small N"
    )
    parser.add_argument(
        "--only",
        type=_name_list,
        action="extend",
        metavar="SCENARIO",
        help=f"scenarios to run, comma-separated (default: all): {', '.join(scenarios.ORDER)}",
    )
    names = sorted(set(SERVERS) | set(CLIENTS))
    parser.add_argument(
        "--impl",
        type=_name_list,
        action="extend",
        metavar="NAME",
        help=f"implementations to measure, comma-separated (default: all): {', '.join(names)}",
    )
    parser.add_argument("--sizes", type=_int_list, help="message sizes in bytes, comma-separated")
    parser.add_argument("--repeats", type=int, help="samples per cell (the median is reported)")
    parser.add_argument("--duration", type=float, help="seconds per sample")
    parser.add_argument(
        "--cpu", type=int, help="CPU for pinned cells (default: the last one allowed)"
    )
    parser.add_argument("--connections", type=int, help="connections of the concurrency scenario")
    parser.add_argument(
        "--idle-connections", type=int, help="connections per server in the idle scenario"
    )
    parser.add_argument("--idle-repeats", type=int, help="runs per server in the idle scenario")
    parser.add_argument(
        "--output", type=Path, help="directory for the results (default: bench/results)"
    )
    parser.add_argument("--name", help="file name stem of the results (default: latest/partial)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    for name in args.only or []:
        if name not in scenarios.ORDER:
            parser.error(f"unknown scenario {name!r}; choose from {', '.join(scenarios.ORDER)}")
    for name in args.impl or []:
        if name not in names:
            parser.error(f"unknown implementation {name!r}; choose from {', '.join(names)}")
    return args


def build_settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if args.quick:
        settings.repeats = 2
        settings.duration = 0.15
        settings.warmup = 0.03
        settings.idle_connections = 300
        settings.idle_repeats = 1
    settings.cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    for option, attribute in [
        ("sizes", "sizes"),
        ("repeats", "repeats"),
        ("duration", "duration"),
        ("connections", "connections"),
        ("idle_connections", "idle_connections"),
        ("idle_repeats", "idle_repeats"),
    ]:
        value = getattr(args, option)
        if value is not None:
            setattr(settings, attribute, value)
    settings.implementations = frozenset(args.impl or ())
    return settings


def _git_revision() -> str | None:
    try:
        revision = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return revision or None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def metadata(settings: Settings, nofile: int) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "revision": _git_revision(),
        "packages": package_versions(),
        "fixed_peers_masking": wire.MASK_IMPLEMENTATION,
        "ours_masking": "C accelerator" if frames.ACCELERATED else "pure Python",
        "ours_small_socket_calls": (
            "C, keeping the GIL" if protocol._KEEPING_GIL is not None else "socket methods"
        ),
        "rlimit_nofile": nofile,
        "settings": {
            "sizes": settings.sizes,
            "repeats": settings.repeats,
            "duration": settings.duration,
            "warmup": settings.warmup,
            "cpu": settings.cpu,
            "connections": settings.connections,
            "concurrency_sizes": settings.concurrency_sizes,
            "compression_sizes": settings.compression_sizes,
            "idle_connections": settings.idle_connections,
            "idle_repeats": settings.idle_repeats,
            "implementations": sorted(settings.implementations),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(scenarios.ORDER)
    if args.list:
        for name in scenarios.ORDER:
            print(f"{name:12} {scenarios.load(name).TITLE}")
        return 0
    settings = build_settings(args)
    nofile = raise_nofile_limit()
    if nofile < settings.idle_connections + 100 and "idle" in names:
        print(
            f"warning: RLIMIT_NOFILE is {nofile}; the idle scenario needs about "
            f"{settings.idle_connections + 100} descriptors in the server process",
            file=sys.stderr,
        )
    partial = bool(args.quick or args.only or args.impl or args.sizes or args.repeats)
    stem = args.name or ("partial" if partial else "latest")
    output = args.output or ROOT / "bench" / "results"
    results: dict[str, Any] = {"meta": metadata(settings, nofile), "scenarios": {}}
    print(f"websockets_sync masking: {results['meta']['ours_masking']}", file=sys.stderr)
    print(
        f"websockets_sync small socket calls: {results['meta']['ours_small_socket_calls']}",
        file=sys.stderr,
    )
    started = time.perf_counter()
    for name in scenarios.ORDER:
        if name not in names:
            continue
        module = scenarios.load(name)
        print(f"-- {name}: {module.TITLE}", file=sys.stderr, flush=True)
        table = module.run(settings)
        results["scenarios"][name] = table
        print(f"   done in {table['seconds']:.0f} s", file=sys.stderr, flush=True)
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets.evaluate(results)
    print(report.format_text(results))
    for path in report.write_all(results, output, stem):
        print(f"wrote {path}", file=sys.stderr)
    failed = any(row.get("error") for t in results["scenarios"].values() for row in t["rows"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
