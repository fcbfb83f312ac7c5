"""Idle scale: many connections held open by one server process.

For each server, in a fresh process: measure it at rest, open N connections
from the load generator (100 handshakes in flight at a time), let it settle,
measure again, then close every connection from the client side (a Close
frame on each; the load generator closes its socket once the server has
answered) and time how long the server takes to give back every thread and
file descriptor it took. Memory is the growth of the resident set divided by
N; threads and descriptors likewise, all read from /proc. The server process
is killed afterwards.

A server that can't hold N connections (``websockets.sync`` needs four file
descriptors per connection and runs out of them first) is reported with the
number it reached, and measured again, with ours, at a smaller N that it can
hold: that is where the opening rates are compared.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from ..runner import BenchError, Pool, Settings, Worker, process_stats, thread_count
from . import available, table

NAME = "idle"
TITLE = "Idle scale: connections held open by one server process"

SERVERS = ("ours-sync", "ours-asyncio", "websockets-sync", "websockets-asyncio", "aiohttp")

COLUMNS = (
    "connections",
    "open s",
    "opened/s",
    "RSS KiB/conn",
    "threads/conn",
    "fds/conn",
    "release s",
)

#: Handshakes in flight while opening.
CONCURRENCY = 100
#: How long to wait for the server to give everything back.
RELEASE_LIMIT = 10.0


def _settle(pid: int, limit: float = 10.0) -> dict[str, int]:
    """Stats once threads and descriptors stop changing (two equal polls 0.25 s apart)."""
    deadline = time.monotonic() + limit
    previous = process_stats(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        current = process_stats(pid)
        if (current["threads"], current["fds"]) == (previous["threads"], previous["fds"]):
            return current
        previous = current
    return previous


def _release(server: Worker, generator: Worker, base: dict[str, int]) -> float | None:
    """Close the clients; seconds until the server is back to its resting threads and fds."""
    start = time.perf_counter()
    generator.send("close", timeout=RELEASE_LIMIT)
    released = None
    while (elapsed := time.perf_counter() - start) < RELEASE_LIMIT:
        # Descriptors are listed only once the threads are back: listing
        # thousands of them every 20 ms would take CPU from the server.
        if thread_count(server.pid) <= base["threads"]:
            stats = process_stats(server.pid)
            if stats["threads"] <= base["threads"] and stats["fds"] <= base["fds"]:
                released = elapsed
                break
        time.sleep(0.02)
    generator.receive(RELEASE_LIMIT + 60)
    return released


def sample(pool: Pool, implementation: str, count: int) -> dict[str, Any]:
    """Open ``count`` connections to a fresh server process and measure it."""
    server = pool.server(implementation, pinned=False)
    try:
        base = _settle(server.pid, 2.0)
        generator = pool.start("loadgen", ["loadgen"], pinned=False)
        try:
            answer = generator.call(
                "open",
                max(120.0, count / 20),
                port=server.info["port"],
                count=count,
                concurrency=CONCURRENCY,
                timeout=max(60.0, count / 25),
                tolerate=True,
            )
            if "failure" in answer:
                stats = process_stats(server.pid)
                return {
                    "connections": answer["opened"],
                    "failure": f"failed after {answer['opened']:,} connections "
                    f"({stats['fds']:,} fds, {stats['threads']:,} threads in the server): "
                    f"{answer['failure']}",
                }
            held = _settle(server.pid)
            released = _release(server, generator, base)
        finally:
            generator.kill()
    finally:
        server.kill()
    seconds = answer["seconds"]
    return {
        "connections": count,
        "open s": seconds,
        "opened/s": count / seconds,
        "RSS KiB/conn": (held["rss"] - base["rss"]) / count / 1024,
        "threads/conn": (held["threads"] - base["threads"]) / count,
        "fds/conn": (held["fds"] - base["fds"]) / count,
        "release s": released,
    }


def _measure(
    pool: Pool, servers: list[str], count: int, repeats: int, errors: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Samples per server, interleaved; a server that fails is not tried again."""
    samples: dict[str, list[dict[str, Any]]] = {}
    for repeat in range(repeats):
        order = servers if repeat % 2 == 0 else servers[::-1]
        for implementation in order:
            if implementation in errors:
                continue
            try:
                result = sample(pool, implementation, count)
            except BenchError as exc:
                errors[implementation] = str(exc)
                continue
            if "failure" in result:
                errors[implementation] = result["failure"]
            samples.setdefault(implementation, []).append(result)
    return samples


def _row(implementation: str, results: list[dict[str, Any]], scale: str) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for column in COLUMNS:
        values = [result[column] for result in results if column in result]
        if not values:
            continue
        if any(value is None for value in values):
            cells[column] = {"median": None, "samples": values}
        else:
            cells[column] = {"median": statistics.median(values), "samples": values}
    label = implementation if scale == "main" else f"{implementation} (smaller N)"
    return {"implementation": implementation, "label": label, "scale": scale, "cells": cells}


def comparison_size(reached: int) -> int:
    """A round N comfortably below what a failing server reached."""
    target = int(reached * 0.9)
    return max(100, target // 500 * 500 if target >= 1000 else target // 100 * 100)


def run(settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    errors: dict[str, str] = {}
    count = settings.idle_connections
    servers = [s for s in SERVERS if settings.wants(s)]
    for implementation in servers:
        reason = available(implementation)
        if reason is not None:
            errors[implementation] = reason
    runnable = [s for s in servers if s not in errors]
    rows = []
    notes = []
    with Pool(settings) as pool:
        samples = _measure(pool, runnable, count, settings.idle_repeats, errors)
        rows = [_row(s, samples[s], "main") for s in runnable if s in samples]
        reference = samples.get("websockets-sync", [{}])[-1]
        if "failure" in reference and "ours-sync" in samples and "ours-sync" not in errors:
            smaller = comparison_size(reference["connections"])
            notes.append(
                f"websockets-sync can't hold {count:,} connections here: both sync servers "
                f"are measured again at {smaller:,}, where their opening rates are compared"
            )
            retry_errors: dict[str, str] = {}
            retry = _measure(
                pool, ["ours-sync", "websockets-sync"], smaller, settings.idle_repeats, retry_errors
            )
            for implementation, results in retry.items():
                row = _row(implementation, results, "comparison")
                if implementation in retry_errors:
                    row["error"] = retry_errors[implementation]
                rows.append(row)
    result = table(
        NAME,
        TITLE,
        columns=COLUMNS,
        rows=rows,
        errors=errors,
        notes=[
            f"{count:,} connections per server, opened {CONCURRENCY} at a time by the load "
            f"generator; median of {settings.idle_repeats} run(s), a fresh server process each",
            "RSS, threads and file descriptors: the server process's growth over its "
            "resting state, divided by the number of connections (from /proc)",
            "release: seconds from the clients starting to close (a Close frame on each) "
            "until the server is back to its resting threads and descriptors; "
            f"'> {RELEASE_LIMIT:g}' when it isn't within that limit",
            "not pinned; keepalive pings off",
            *notes,
        ],
        metric="",
        pinned=False,
        started=started,
    )
    result["release_limit"] = RELEASE_LIMIT
    return result
