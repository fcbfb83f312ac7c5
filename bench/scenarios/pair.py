"""One connection, client and server of the same implementation.

Request/response round trips: the client sends a binary message, the server
echoes it, the client checks the echo and sends the next. Both processes are
pinned to one CPU. websocket-client has no server: it talks to the fixed
fast server. The raw TCP echo (4-byte length prefix, no WebSocket) is the
limit of plain Python sockets on this machine.
"""

from __future__ import annotations

import time
from typing import Any

from ..runner import Pool, Settings
from . import Contender, setup_all, size_table, throughput_rows

NAME = "pair"
TITLE = "Pairs: client and server of the same implementation, one connection"

#: Implementation -> the server it talks to.
PAIRS = {
    "ours-sync": "ours-sync",
    "ours-asyncio": "ours-asyncio",
    "websockets-sync": "websockets-sync",
    "websockets-asyncio": "websockets-asyncio",
    "aiohttp": "aiohttp",
    "websocket-client": "fast",
    "raw": "raw",
}


def run(settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    errors: dict[str, str] = {}
    with Pool(settings) as pool:

        def start(implementation: str) -> Contender:
            server = pool.server(PAIRS[implementation], pinned=True)
            client = pool.client(implementation, server.info["port"], pinned=True)
            return Contender(implementation, client)

        contenders = setup_all(list(PAIRS), settings, start, errors)
        rows = throughput_rows(contenders, settings.sizes, settings, errors)
    return size_table(
        NAME,
        TITLE,
        settings.sizes,
        rows,
        errors,
        notes=[
            "round trips per second (MB/s of payload echoed, one direction); median of "
            f"{settings.repeats} samples of {settings.duration:g} s",
            f"client and server in two processes, both pinned to CPU {settings.cpu}",
            "websocket-client talks to the fixed fast server; raw is a 4-byte length "
            "prefix echo on plain sockets (no WebSocket): the limit",
            "binary messages, compression off, keepalive off",
        ],
        pinned=True,
        started=started,
    )
