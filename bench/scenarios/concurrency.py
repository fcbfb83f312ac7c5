"""Each server under the fixed load generator with many concurrent connections.

Aggregate round trips per second over ``settings.connections`` connections,
each with one request in flight. Not pinned: the server may use both CPUs,
and the load generator (one process, one ``epoll`` loop) needs one.
"""

from __future__ import annotations

import time
from typing import Any

from ..runner import Pool, Settings
from . import Contender, setup_all, size_table, throughput_rows
from .server import SERVERS

NAME = "concurrency"
TITLE = "Servers under the fixed load generator, concurrent connections"


def run(settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    errors: dict[str, str] = {}
    count = settings.connections
    with Pool(settings) as pool:

        def start(implementation: str) -> Contender:
            server = pool.server(implementation, pinned=False)
            mode = "raw" if implementation == "raw" else "ws"
            generator = pool.loadgen(server.info["port"], pinned=False, count=count, mode=mode)
            return Contender(implementation, generator)

        contenders = setup_all(SERVERS, settings, start, errors)
        rows = throughput_rows(contenders, settings.concurrency_sizes, settings, errors)
    return size_table(
        NAME,
        TITLE.replace("concurrent", f"{count} concurrent"),
        settings.concurrency_sizes,
        rows,
        errors,
        notes=[
            f"aggregate round trips per second over {count} connections, one request in "
            f"flight on each; median of {settings.repeats} samples of {settings.duration:g} s",
            "not pinned: server and load generator share the machine's CPUs",
            "fast and raw show the ceiling of the load generator itself (one Python process)",
            "binary messages, compression off, keepalive off",
        ],
        pinned=False,
        started=started,
    )
