"""One adapter per implementation: how to start its echo server and drive its client.

Every adapter uses the implementation's public API the way its documentation
shows, with the same settings everywhere: compression off unless a cell turns
it on, keepalive pings off (the load generator doesn't answer them, and they
would only add noise), and ``max_size`` raised to 2 MiB so that 1 MiB
messages pass. Third-party packages are imported only when their adapter is
used, so the suite runs with just the ones installed.

Implementations:

================== =================================== ===================================
name               server                              client
================== =================================== ===================================
ours-sync          ``websockets_sync.serve``           ``websockets_sync.connect``
ours-asyncio       ``websockets_sync.asyncio.serve``   ``websockets_sync.asyncio.connect``
websockets-sync    ``websockets.sync.server.serve``    ``websockets.sync.client.connect``
websockets-asyncio ``websockets.asyncio.server.serve`` ``websockets.asyncio.client.connect``
aiohttp            ``aiohttp.web.WebSocketResponse``   ``ClientSession.ws_connect``
websocket-client   (none: uses the fast server)        ``websocket.create_connection``
fast               :mod:`bench.fastserver`             (none)
raw                4-byte length prefix echo           the same framing, no WebSocket
================== =================================== ===================================
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLIENTS",
    "MAX_SIZE",
    "SERVERS",
    "AsyncServer",
    "Client",
    "ServerOptions",
    "SyncServer",
    "VerificationError",
    "package_of",
    "package_versions",
]

#: Largest message accepted by every peer: room for the 1 MiB cells.
MAX_SIZE = 2 * 2**20

Message = str | bytes


class VerificationError(Exception):
    """An echo differs from the message sent."""


@dataclass(frozen=True)
class ServerOptions:
    compression: bool = False
    backlog: int = 1024


# Servers. A sync server starts in the calling thread and returns (port, stop);
# an async server is a coroutine run in the worker's event loop, returning
# (port, async stop).

SyncServer = Callable[[ServerOptions], tuple[int, Callable[[], None]]]
AsyncServer = Callable[[ServerOptions], Awaitable[tuple[int, Callable[[], Awaitable[None]]]]]


def _serve_ours_sync(options: ServerOptions) -> tuple[int, Callable[[], None]]:
    from websockets_sync import serve

    def echo(websocket: Any) -> None:
        for message in websocket:
            websocket.send(message)

    server = serve(
        echo,
        "127.0.0.1",
        0,
        compression="deflate" if options.compression else None,
        max_size=MAX_SIZE,
        ping_interval=None,
        backlog=options.backlog,
    )
    return server.sockets[0].getsockname()[1], server.close


async def _serve_ours_asyncio(options: ServerOptions) -> tuple[int, Callable[[], Awaitable[None]]]:
    from websockets_sync.asyncio import serve

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    server = await serve(
        echo,
        "127.0.0.1",
        0,
        compression="deflate" if options.compression else None,
        max_size=MAX_SIZE,
        ping_interval=None,
        backlog=options.backlog,
    )

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return server.sockets[0].getsockname()[1], stop


def _serve_websockets_sync(options: ServerOptions) -> tuple[int, Callable[[], None]]:
    import threading

    from websockets.sync.server import serve

    def echo(websocket: Any) -> None:
        for message in websocket:
            websocket.send(message)

    sock = socket.create_server(("127.0.0.1", 0), backlog=options.backlog)
    server = serve(
        echo,
        sock=sock,
        compression="deflate" if options.compression else None,
        max_size=MAX_SIZE,
        ping_interval=None,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(10)

    return sock.getsockname()[1], stop


async def _serve_websockets_asyncio(
    options: ServerOptions,
) -> tuple[int, Callable[[], Awaitable[None]]]:
    from websockets.asyncio.server import serve

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    server = await serve(
        echo,
        "127.0.0.1",
        0,
        compression="deflate" if options.compression else None,
        max_size=MAX_SIZE,
        ping_interval=None,
        backlog=options.backlog,
    )

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return next(iter(server.sockets)).getsockname()[1], stop


async def _serve_aiohttp(options: ServerOptions) -> tuple[int, Callable[[], Awaitable[None]]]:
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(
            compress=options.compression, max_msg_size=MAX_SIZE, heartbeat=None
        )
        await websocket.prepare(request)
        async for message in websocket:
            if message.type is WSMsgType.BINARY:
                await websocket.send_bytes(message.data)
            elif message.type is WSMsgType.TEXT:
                await websocket.send_str(message.data)
        return websocket

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", 0), backlog=options.backlog)
    site = web.SockSite(runner, sock)
    await site.start()
    return sock.getsockname()[1], runner.cleanup


def _serve_fast(options: ServerOptions) -> tuple[int, Callable[[], None]]:
    from .fastserver import FastServer

    server = FastServer(backlog=options.backlog)
    server.start()
    return server.port, server.close


def _serve_raw(options: ServerOptions) -> tuple[int, Callable[[], None]]:
    from .fastserver import RawEchoServer

    server = RawEchoServer(backlog=options.backlog)
    server.start()
    return server.port, server.close


SERVERS: dict[str, SyncServer | AsyncServer] = {
    "ours-sync": _serve_ours_sync,
    "ours-asyncio": _serve_ours_asyncio,
    "websockets-sync": _serve_websockets_sync,
    "websockets-asyncio": _serve_websockets_asyncio,
    "aiohttp": _serve_aiohttp,
    "fast": _serve_fast,
    "raw": _serve_raw,
}


# Clients. Each measures round trips in a tight loop: send a message, receive
# its echo, compare, and look at the clock.


class Client:
    """A synchronous client: ``open``, then ``run`` any number of times, then ``close``."""

    def open(self, port: int, *, compression: bool) -> None:
        raise NotImplementedError

    def run(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        """Round trips for ``duration`` seconds, cycling through ``messages``.

        Returns (round trips, seconds).

        Raises:
            VerificationError: An echo differs from its message.
        """
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _AsyncClient(Client):
    """Runs the coroutines of an asyncio client in an event loop of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def open(self, port: int, *, compression: bool) -> None:
        self.loop.run_until_complete(self.open_async(port, compression=compression))

    def run(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        return self.loop.run_until_complete(self.run_async(messages, duration))

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.close_async())
        finally:
            self.loop.close()

    async def open_async(self, port: int, *, compression: bool) -> None:
        raise NotImplementedError

    async def run_async(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        raise NotImplementedError

    async def close_async(self) -> None:
        raise NotImplementedError


def _sync_loop(
    send: Callable[[Any], Any],
    recv: Callable[[], Any],
    messages: Sequence[Message],
    duration: float,
) -> tuple[int, float]:
    """The round-trip loop shared by the synchronous WebSocket clients."""
    count = 0
    cycle = len(messages)
    start = time.perf_counter()
    deadline = start + duration
    while True:
        message = messages[count % cycle]
        send(message)
        if recv() != message:
            raise VerificationError("echo differs from the message")
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count, now - start


class _SyncConnectClient(Client):
    """A client whose ``connect`` takes the options of websockets: ours and websockets.sync."""

    #: The module that provides ``connect``.
    module: str

    def open(self, port: int, *, compression: bool) -> None:
        connect = importlib.import_module(self.module).connect
        self.websocket = connect(
            f"ws://127.0.0.1:{port}/",
            compression="deflate" if compression else None,
            max_size=MAX_SIZE,
            ping_interval=None,
        )

    def run(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        return _sync_loop(self.websocket.send, self.websocket.recv, messages, duration)

    def close(self) -> None:
        self.websocket.close()


class _OursSync(_SyncConnectClient):
    module = "websockets_sync"


class _WebsocketsSync(_SyncConnectClient):
    module = "websockets.sync.client"


class _WebsocketClient(Client):
    """websocket-client: synchronous; no permessage-deflate support."""

    def open(self, port: int, *, compression: bool) -> None:
        import websocket

        if compression:
            raise ValueError("websocket-client doesn't support permessage-deflate")
        self.websocket = websocket.create_connection(f"ws://127.0.0.1:{port}/")

    def run(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        websocket = self.websocket

        def send(message: Message) -> None:
            if isinstance(message, str):
                websocket.send(message)
            else:
                websocket.send_binary(message)

        return _sync_loop(send, websocket.recv, messages, duration)

    def close(self) -> None:
        self.websocket.close()


class _Raw(Client):
    """The limit: a 4-byte length prefix, plain blocking socket, prebuilt requests."""

    def open(self, port: int, *, compression: bool) -> None:
        if compression:
            raise ValueError("raw TCP has no compression")
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        sock = self.sock
        requests = []
        for message in messages:
            payload = message.encode() if isinstance(message, str) else message
            requests.append(len(payload).to_bytes(4, "big") + payload)
        buffers = [bytearray(len(request)) for request in requests]
        views = [memoryview(buffer) for buffer in buffers]
        count = 0
        cycle = len(requests)
        start = time.perf_counter()
        deadline = start + duration
        try:
            while True:
                index = count % cycle
                request, view = requests[index], views[index]
                sock.sendall(request)
                size = len(request)
                received = 0
                while received < size:
                    got = sock.recv_into(view[received:])
                    if not got:
                        raise ConnectionError("server closed the connection")
                    received += got
                if buffers[index] != request:
                    raise VerificationError("echo differs from the message")
                count += 1
                now = time.perf_counter()
                if now >= deadline:
                    return count, now - start
        finally:
            for view in views:
                view.release()

    def close(self) -> None:
        self.sock.close()


async def _async_loop(
    send: Callable[[Any], Awaitable[Any]],
    recv: Callable[[], Awaitable[Any]],
    messages: Sequence[Message],
    duration: float,
) -> tuple[int, float]:
    """The round-trip loop shared by the asyncio clients."""
    count = 0
    cycle = len(messages)
    start = time.perf_counter()
    deadline = start + duration
    while True:
        message = messages[count % cycle]
        await send(message)
        if await recv() != message:
            raise VerificationError("echo differs from the message")
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count, now - start


class _AsyncConnectClient(_AsyncClient):
    """A client whose ``connect`` takes the options of websockets: ours and websockets.asyncio."""

    #: The module that provides ``connect``.
    module: str

    async def open_async(self, port: int, *, compression: bool) -> None:
        connect = importlib.import_module(self.module).connect
        self.websocket = await connect(
            f"ws://127.0.0.1:{port}/",
            compression="deflate" if compression else None,
            max_size=MAX_SIZE,
            ping_interval=None,
        )

    async def run_async(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        return await _async_loop(self.websocket.send, self.websocket.recv, messages, duration)

    async def close_async(self) -> None:
        await self.websocket.close()


class _OursAsyncio(_AsyncConnectClient):
    module = "websockets_sync.asyncio"


class _WebsocketsAsyncio(_AsyncConnectClient):
    module = "websockets.asyncio.client"


class _Aiohttp(_AsyncClient):
    async def open_async(self, port: int, *, compression: bool) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()
        self.websocket = await self.session.ws_connect(
            f"ws://127.0.0.1:{port}/",
            compress=15 if compression else 0,
            max_msg_size=MAX_SIZE,
            autoclose=True,
        )

    async def run_async(self, messages: Sequence[Message], duration: float) -> tuple[int, float]:
        websocket = self.websocket

        async def send(message: Message) -> None:
            if isinstance(message, str):
                await websocket.send_str(message)
            else:
                await websocket.send_bytes(message)

        async def recv() -> Any:
            return (await websocket.receive()).data

        return await _async_loop(send, recv, messages, duration)

    async def close_async(self) -> None:
        try:
            await self.websocket.close()
        finally:
            await self.session.close()


CLIENTS: dict[str, Callable[[], Client]] = {
    "ours-sync": _OursSync,
    "ours-asyncio": _OursAsyncio,
    "websockets-sync": _WebsocketsSync,
    "websockets-asyncio": _WebsocketsAsyncio,
    "aiohttp": _Aiohttp,
    "websocket-client": _WebsocketClient,
    "raw": _Raw,
}

_PACKAGES = {
    "ours-sync": "websockets_sync",
    "ours-asyncio": "websockets_sync",
    "websockets-sync": "websockets",
    "websockets-asyncio": "websockets",
    "aiohttp": "aiohttp",
    "websocket-client": "websocket-client",
}


def package_versions() -> dict[str, str | None]:
    """Installed version of each package measured; ``None`` when missing."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for package in sorted(set(_PACKAGES.values())):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def package_of(implementation: str) -> str | None:
    """The distribution an implementation comes from; ``None`` for the bench's own peers."""
    return _PACKAGES.get(implementation)
