"""Run the shared connection tests against both faces: the sync API and the asyncio facade.

The facade is driven from the blocking test code through :class:`BlockingFacade`,
which runs each coroutine in an event loop of its own thread; so one test body
exercises the same behaviour on both faces.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from websockets_sync import ConnectionClosedOK

from .utils import Pair, server_uri
from .utils import connection_pair as sync_connection_pair

__all__ = ["FACES", "BlockingFacade", "LoopThread", "connection_pair"]

T = TypeVar("T")

#: The faces that the shared tests run on.
FACES = ["sync", "asyncio"]


class LoopThread:
    """An event loop running in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run a coroutine in the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop, shut down its executor and close it."""
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class BlockingFacade:
    """Blocking calls into a facade connection, with the sync connection's signatures."""

    def __init__(self, loop: LoopThread, websocket: Any) -> None:
        self._loop = loop
        self.websocket = websocket

    def __getattr__(self, name: str) -> Any:
        return getattr(self.websocket, name)

    def recv(self, timeout: float | None = None) -> Any:
        return self._loop.run(self._recv(timeout), timeout=60)

    async def _recv(self, timeout: float | None) -> Any:
        try:
            return await asyncio.wait_for(self.websocket.recv(), timeout)
        except asyncio.TimeoutError:  # not the built-in TimeoutError on 3.10
            raise TimeoutError("timed out waiting for a message") from None

    def send(self, message: Any) -> None:
        self._loop.run(self.websocket.send(message))

    def ping(self, data: Any = None) -> _BlockingWaiter:
        return _BlockingWaiter(self._loop, self._loop.run(self.websocket.ping(data)))

    def pong(self, data: Any = b"") -> None:
        self._loop.run(self.websocket.pong(data))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._loop.run(self.websocket.close(code, reason))

    def wait_closed(self, timeout: float | None = None) -> None:
        try:
            self._loop.run(asyncio.wait_for(self.websocket.wait_closed(), timeout))
        except asyncio.TimeoutError:
            raise TimeoutError("timed out waiting for the connection to close") from None

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def __enter__(self) -> BlockingFacade:
        self._loop.run(self.websocket.__aenter__())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.run(self.websocket.__aexit__(*exc_info))


class _BlockingWaiter:
    def __init__(self, loop: LoopThread, waiter: Any) -> None:
        self._loop = loop
        self._waiter = waiter

    def wait(self, timeout: float | None = None) -> float:
        async def wait() -> float:
            return await asyncio.wait_for(self._waiter, timeout)  # type: ignore[no-any-return]

        return self._loop.run(wait())


@contextmanager
def connection_pair(
    face: str,
    server_options: dict[str, Any] | None = None,
    client_options: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
) -> Iterator[Pair]:
    """A served connection and its client, on the given face."""
    if face == "sync":
        with sync_connection_pair(server_options, client_options, host) as pair:
            yield pair
        return
    import websockets_sync.asyncio as facade

    loop = LoopThread()
    try:
        connections: asyncio.Queue[Any] = loop.run(_make_queue())
        release = loop.run(_make_event())

        async def handler(websocket: Any) -> None:
            await connections.put(websocket)
            await release.wait()

        async def start() -> tuple[Any, Any, Any]:
            server = await facade.serve(handler, host, 0, **(server_options or {}))
            client = await facade.connect(server_uri(server), **(client_options or {}))
            server_side = await asyncio.wait_for(connections.get(), 5)
            return server, client, server_side

        server, client, server_side = loop.run(start())
        released = threading.Event()
        try:
            yield _AsyncPair(loop, server, server_side, client, release, released)
        finally:
            loop.loop.call_soon_threadsafe(release.set)
            loop.run(client.close())
            server.close()
            loop.run(server.wait_closed())
    finally:
        loop.close()


async def _make_queue() -> asyncio.Queue[Any]:
    return asyncio.Queue()


async def _make_event() -> asyncio.Event:
    return asyncio.Event()


class _AsyncPair(Pair):
    def __init__(
        self,
        loop: LoopThread,
        server: Any,
        server_side: Any,
        client: Any,
        release: asyncio.Event,
        released: threading.Event,
    ) -> None:
        super().__init__(
            server, BlockingFacade(loop, server_side), BlockingFacade(loop, client), released
        )
        self._loop = loop
        self._async_release = release

    def release(self) -> None:
        self._loop.loop.call_soon_threadsafe(self._async_release.set)
