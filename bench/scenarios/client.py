"""Each client against the fixed fast server, one connection.

The fast server (:mod:`bench.fastserver`) is the same for every client, so
differences are the clients' own. The raw client talks to the raw TCP echo.
Both processes are pinned to one CPU.
"""

from __future__ import annotations

import time
from typing import Any

from ..runner import Pool, Settings
from . import Contender, setup_all, size_table, throughput_rows

NAME = "client"
TITLE = "Clients against the fixed fast server, one connection"

CLIENTS = (
    "ours-sync",
    "ours-asyncio",
    "websockets-sync",
    "websockets-asyncio",
    "aiohttp",
    "websocket-client",
    "raw",
)


def run(settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    errors: dict[str, str] = {}
    with Pool(settings) as pool:
        # One fast server for all the clients: a thread per connection, and
        # idle connections cost it nothing.
        servers: dict[str, int] = {}

        def port(kind: str) -> int:
            if kind not in servers:
                servers[kind] = pool.server(kind, pinned=True).info["port"]
            return servers[kind]

        def start(implementation: str) -> Contender:
            server = "raw" if implementation == "raw" else "fast"
            return Contender(implementation, pool.client(implementation, port(server), pinned=True))

        contenders = setup_all(CLIENTS, settings, start, errors)
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
            f"client and fast server in two processes, both pinned to CPU {settings.cpu}",
            "the fast server echoes frame by frame on blocking sockets (bench/fastserver.py)",
            "binary messages, compression off, keepalive off",
        ],
        pinned=True,
        started=started,
    )
