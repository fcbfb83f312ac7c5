"""permessage-deflate on versus off, with text messages, one connection.

Each implementation runs two pairs, one with compression negotiated and one
without, on JSON-like text (:func:`bench.payloads.text_pool`): distinct
messages sent in turn, so that the compressor never finds the previous
message whole in its window. Pinned to one CPU like the other pairs.
"""

from __future__ import annotations

import time
from typing import Any

from ..runner import Pool, Settings, interleave, summarize
from . import Contender, available, measure_rate, size_label, table

NAME = "compression"
TITLE = "Compression: pairs with permessage-deflate on and off, text messages"

IMPLEMENTATIONS = ("ours-sync", "ours-asyncio", "websockets-sync", "websockets-asyncio", "aiohttp")


def pool_size(size: int) -> int:
    """How many distinct texts to cycle through: at least 64 KiB of them, at least 2."""
    return max(2, -(-65536 // size))


def run(settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    errors: dict[str, str] = {}
    sizes = settings.compression_sizes
    keys: list[tuple[str, bool]] = []
    with Pool(settings) as pool:
        contenders: list[Contender] = []
        for implementation in IMPLEMENTATIONS:
            if not settings.wants(implementation):
                continue
            reason = available(implementation)
            if reason is not None:
                errors[implementation] = reason
                continue
            for compression in (False, True):
                try:
                    server = pool.server(implementation, pinned=True, compression=compression)
                    client = pool.client(
                        implementation,
                        server.info["port"],
                        pinned=True,
                        compression=compression,
                    )
                except Exception as exc:
                    errors[implementation] = str(exc)
                    break
                contenders.append(Contender(implementation, client, kind="text"))
                keys.append((implementation, compression))

        measure = measure_rate(settings)

        def measure_text(contender: Contender, size: int) -> float:
            contender.pool = pool_size(size)
            return measure(contender, size)

        def on_error(contender: Contender, size: int, exc: Exception) -> None:
            errors.setdefault(contender.implementation, f"{size_label(size)}: {exc}")

        samples = interleave(contenders, sizes, settings.repeats, measure_text, on_error=on_error)

    rows: dict[str, dict[str, Any]] = {}
    for index, (implementation, compression) in enumerate(keys):
        row = rows.setdefault(implementation, {"implementation": implementation, "cells": {}})
        for size in sizes:
            values = samples.get((index, size))
            if values:
                cell = summarize(values)
                cell["mb_s"] = cell["median"] * size / 1e6
                row["cells"][column(size, compression)] = cell
    return table(
        NAME,
        TITLE,
        columns=[column(size, on) for size in sizes for on in (False, True)],
        rows=list(rows.values()),
        errors=errors,
        notes=[
            "round trips per second (MB/s) with JSON-like text; median of "
            f"{settings.repeats} samples of {settings.duration:g} s",
            f"client and server in two processes, both pinned to CPU {settings.cpu}",
            "each library's default permessage-deflate settings, context takeover on "
            "(ours: 12-bit windows, zlib level 1; websockets: 12-bit windows, level 6)",
        ],
        metric="round trips/s",
        pinned=True,
        started=started,
        sizes=[size for size in sizes for _ in (False, True)],
    )


def column(size: int, compression: bool) -> str:
    return f"{size_label(size)} {'on' if compression else 'off'}"
