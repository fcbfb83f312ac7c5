"""Each server under the fixed load generator, one connection.

The load generator (:mod:`bench.loadgen`) costs the same whatever the
server, so differences are the servers' own. ``fast`` is the fixed fast
server itself and ``raw`` the length-prefixed TCP echo, for scale. Both
processes are pinned to one CPU.
"""

from __future__ import annotations

import time
from typing import Any

from ..runner import Pool, Settings
from . import Contender, setup_all, size_table, throughput_rows

NAME = "server"
TITLE = "Servers under the fixed load generator, one connection"

SERVERS = (
    "ours-sync",
    "ours-asyncio",
    "websockets-sync",
    "websockets-asyncio",
    "aiohttp",
    "fast",
    "raw",
)


def run(settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    errors: dict[str, str] = {}
    with Pool(settings) as pool:

        def start(implementation: str) -> Contender:
            server = pool.server(implementation, pinned=True)
            mode = "raw" if implementation == "raw" else "ws"
            generator = pool.loadgen(server.info["port"], pinned=True, mode=mode)
            return Contender(implementation, generator)

        contenders = setup_all(SERVERS, settings, start, errors)
        rows = throughput_rows(contenders, settings.sizes, settings, errors)
    return size_table(
        NAME,
        TITLE,
        settings.sizes,
        rows,
        errors,
        notes=[
            "round trips per second (MB/s); median of "
            f"{settings.repeats} samples of {settings.duration:g} s",
            f"server and load generator in two processes, both pinned to CPU {settings.cpu}",
            "the load generator resends prebuilt masked frames and compares each response "
            "with the expected bytes, without parsing",
            "fast is the fixed fast server (the clients' yardstick); raw is the "
            "length-prefixed TCP echo",
            "binary messages, compression off, keepalive off",
        ],
        pinned=True,
        started=started,
    )
