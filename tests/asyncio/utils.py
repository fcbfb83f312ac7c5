"""Helpers shared by the asyncio facade tests and the documentation example tests."""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..utils import MS

__all__ = [
    "REPO_ROOT",
    "SyncPeer",
    "Ticker",
    "connect_when_ready",
    "free_port",
    "python_interpreters",
    "run",
    "script",
    "sync_peer",
    "until",
    "wait_listening",
]

T = TypeVar("T")

#: The checkout: subprocesses import websockets_sync from here.
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coroutine`` in a fresh event loop, as ``asyncio.run`` does, within ``timeout``."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def until(predicate: Any, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` without blocking the loop; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(2 * MS)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python_interpreters() -> list[str]:
    """The interpreter running the tests, then those in WEBSOCKETS_SYNC_EXTRA_PYTHONS.

    That variable lists more interpreters, separated by ``os.pathsep``, to run the
    subprocess tests (the verbatim example, the documentation examples) with.
    """
    extra = os.environ.get("WEBSOCKETS_SYNC_EXTRA_PYTHONS", "")
    return [sys.executable, *(path for path in extra.split(os.pathsep) if path)]


@contextmanager
def script(
    args: list[str], python: str = sys.executable, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Run ``python *args`` with websockets_sync importable; kill it on exit if still running."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    process = subprocess.Popen(
        [python, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=REPO_ROOT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def connect_when_ready(process: subprocess.Popen[str], uri: str, timeout: float = 10.0) -> Any:
    """Connect the sync client to a server starting in ``process``; retry until it listens."""
    from websockets_sync import connect

    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(uri, open_timeout=5)
        except ConnectionRefusedError:
            if process.poll() is not None:
                _, stderr = process.communicate()
                raise AssertionError(f"the server exited early:\n{stderr}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(10 * MS)


def wait_listening(process: subprocess.Popen[str], port: int, timeout: float = 10.0) -> None:
    """Wait until a server starting in ``process`` accepts TCP connections on ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
            return
        except ConnectionRefusedError:
            if process.poll() is not None:
                _, stderr = process.communicate()
                raise AssertionError(f"the server exited early:\n{stderr}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(10 * MS)


class SyncPeer:
    """A server of the sync face whose connections the test drives by hand."""

    def __init__(self, server: Any, connections: queue.Queue[Any]) -> None:
        self.server = server
        self._connections = connections

    @property
    def uri(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}/"

    async def accepted(self) -> Any:
        """The server end of the next connection, a sync connection."""
        return await asyncio.to_thread(self._connections.get, timeout=5)


@contextmanager
def sync_peer(**options: Any) -> Iterator[SyncPeer]:
    """Serve with the sync face; each handler idles until its client hangs up."""
    from websockets_sync import serve

    connections: queue.Queue[Any] = queue.Queue()

    def handler(websocket: Any) -> None:
        connections.put(websocket)
        websocket.wait_closed()

    with serve(handler, "127.0.0.1", 0, **options) as server:
        yield SyncPeer(server, connections)


class Ticker:
    """Counts event loop turns of about one millisecond, to show the loop isn't blocked."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(MS)
            self.ticks += 1

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
