"""aiohttp, as client of our server and as server for our client.

The aiohttp client runs in the test's thread with ``asyncio.run``; the aiohttp
server runs in a thread with its own event loop, shared by the module's tests.
aiohttp has no API to send a fragmented message, so fragments only go from us
to it. permessage-deflate is on by default on both aiohttp sides.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from websockets_sync import ConnectionClosedError, connect

from .helpers import (
    ALL_MESSAGES,
    COMPRESSIBLE,
    FRAGMENTS_BINARY,
    FRAGMENTS_TEXT,
    MAX_SIZE,
    ONE_MIB_RANDOM,
    SECONDS,
    OurServer,
    WireBytes,
    assert_compressed,
    check_deflate,
    require_module,
    wire_bytes,
)

aiohttp = require_module("aiohttp", "aiohttp")
web = require_module("aiohttp.web", "aiohttp")
WSMsgType = aiohttp.WSMsgType

T = TypeVar("T")
# The aiohttp client against our server.


def run_client(
    server: OurServer, scenario: Callable[[Any], Awaitable[T]], *, compress: int = 15
) -> T:
    """Connect aiohttp's client to our server and run ``scenario(ws)`` in a fresh loop."""

    async def main() -> T:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                server.uri(), compress=compress, max_msg_size=MAX_SIZE, autoping=True
            ) as ws:
                return await scenario(ws)

    result = asyncio.run(asyncio.wait_for(main(), 30 * SECONDS))
    server.wait_idle()
    return result


async def echo(ws: Any, message: str | bytes) -> str | bytes:
    if isinstance(message, str):
        await ws.send_str(message)
    else:
        await ws.send_bytes(message)
    reply = await ws.receive()
    assert reply.type in (WSMsgType.TEXT, WSMsgType.BINARY), reply
    data: str | bytes = reply.data
    return data


async def wire(ws: Any) -> WireBytes:
    """Our server's WireBytes for this connection."""
    await ws.send_str("wire?")
    return WireBytes(**json.loads(await ws.receive_str()))


@pytest.fixture
def server() -> Iterator[OurServer]:
    with OurServer() as server:
        yield server


@pytest.mark.parametrize("message", ALL_MESSAGES.values(), ids=ALL_MESSAGES.keys())
def test_aiohttp_client_messages(server: OurServer, message: str | bytes) -> None:
    received = run_client(server, lambda ws: echo(ws, message))
    assert received == message and type(received) is type(message)


def test_aiohttp_client_one_mib_at_default_max_size() -> None:
    """Exactly 1 MiB of random bytes, compressed by aiohttp, to our server's defaults."""

    async def scenario(ws: Any) -> tuple[Any, Any, Any]:
        await ws.send_bytes(ONE_MIB_RANDOM)
        reply = await ws.receive()
        return reply.type, reply.data, reply.extra

    with OurServer(default_limits=True) as server:
        kind, data, extra = run_client(server, scenario)
    assert kind is WSMsgType.BINARY, (kind, data, extra)  # not a close with 1009
    assert data == ONE_MIB_RANDOM


def test_aiohttp_client_receives_our_fragments(server: OurServer) -> None:
    async def scenario(ws: Any) -> tuple[str, bytes]:
        await ws.send_str("fragments?")
        return await ws.receive_str(), await ws.receive_bytes()

    assert run_client(server, scenario) == ("".join(FRAGMENTS_TEXT), b"".join(FRAGMENTS_BINARY))


@pytest.mark.parametrize("compress", [15, 0], ids=["deflate", "uncompressed"])
def test_aiohttp_client_compression(server: OurServer, compress: int) -> None:
    """aiohttp offers permessage-deflate unless compress=0; we accept and use it."""

    async def scenario(ws: Any) -> tuple[int, WireBytes]:
        before = await wire(ws)
        assert await echo(ws, COMPRESSIBLE) == COMPRESSIBLE
        return ws.compress, await wire(ws) - before

    negotiated, delta = run_client(server, scenario, compress=compress)
    offered, accepted = server.next_side().extensions()
    if compress:
        check_deflate(offered)
        check_deflate(accepted)
        assert negotiated > 0  # the window size we accepted for its messages
    else:
        assert (offered, accepted, negotiated) == (None, None, 0)
    assert_compressed(delta, compressed=bool(compress))


def test_aiohttp_client_closes(server: OurServer) -> None:
    async def scenario(ws: Any) -> int | None:
        await ws.close(code=4000, message="aiohttp bye ✓".encode())
        code: int | None = ws.close_code
        return code

    assert run_client(server, scenario) == 4000  # our echo
    assert server.next_side().close_seen() == (4000, "aiohttp bye ✓")


def test_aiohttp_client_sees_our_close(server: OurServer) -> None:
    async def scenario(ws: Any) -> tuple[str, Any, Any]:
        await ws.send_str("close 4001 server bye")
        notice = await ws.receive_str()
        close = await ws.receive()
        assert close.type is WSMsgType.CLOSE, close
        return notice, close.data, close.extra

    assert run_client(server, scenario) == ("closing 4001", 4001, "server bye")
    # aiohttp answers a Close frame with a bare 1000 (RFC 6455 §5.5.1 allows it).
    assert server.next_side().close_seen() == (1000, "")


# Our client against the aiohttp server.


class AiohttpServer:
    """aiohttp's server in a thread with its own event loop.

    Its handler echoes, obeys ``close CODE REASON`` like our server, and reports
    per request path: ("connection", request headers) and ("close", code, reason).
    """

    def __init__(self) -> None:
        # Protects _events.
        self._lock = threading.Lock()
        self._events: dict[str, queue.Queue[tuple[Any, ...]]] = {}
        started: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = queue.Queue()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(started),), name="test-aiohttp-server"
        )
        self._thread.start()
        self._loop, self._stop, port = started.get(timeout=10 * SECONDS)
        self.base_uri = f"ws://127.0.0.1:{port}"

    def events(self, path: str) -> queue.Queue[tuple[Any, ...]]:
        with self._lock:
            return self._events.setdefault(path, queue.Queue())

    def event(self, path: str, kind: str) -> tuple[Any, ...]:
        event = self.events(path).get(timeout=10 * SECONDS)
        assert event[0] == kind, event
        return event[1:]

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10 * SECONDS)

    async def _main(
        self, started: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]]
    ) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            stop = asyncio.Event()
            started.put((asyncio.get_running_loop(), stop, runner.addresses[0][1]))
            await stop.wait()
        finally:
            await runner.cleanup()

    async def _handler(self, request: Any) -> Any:
        ws = web.WebSocketResponse(max_msg_size=MAX_SIZE)  # compress=True by default
        await ws.prepare(request)
        events = self.events(request.path)
        events.put(("connection", dict(request.headers), ws.compress))
        close: tuple[Any, Any] = (None, None)
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                elif msg.type is WSMsgType.TEXT and msg.data.startswith("close "):
                    _, code, reason = msg.data.split(" ", 2)
                    await ws.send_str(f"closing {code}")
                    await ws.close(code=int(code), message=reason.encode())
                    close = (ws.close_code, None)
                    break
                elif msg.type is WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                else:
                    if msg.type is WSMsgType.CLOSE:
                        close = (msg.data, msg.extra)
                    break
        finally:
            events.put(("close", *close))
        return ws


@pytest.fixture(scope="module")
def aiohttp_server() -> Iterator[AiohttpServer]:
    server = AiohttpServer()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def our_client(aiohttp_server: AiohttpServer) -> Iterator[tuple[Any, str]]:
    """Our client on a path of its own; yields it and the path."""
    path = f"/{uuid.uuid4()}"
    with connect(aiohttp_server.base_uri + path, max_size=MAX_SIZE) as client:
        yield client, path
    client.wait_closed(5 * SECONDS)


@pytest.mark.parametrize("message", ALL_MESSAGES.values(), ids=ALL_MESSAGES.keys())
def test_our_client_messages(aiohttp_server: AiohttpServer, message: str | bytes) -> None:
    with our_client(aiohttp_server) as (client, _):
        client.send(message)
        received = client.recv(timeout=10 * SECONDS)
        assert received == message and type(received) is type(message)


def test_our_client_one_mib_at_default_max_size(aiohttp_server: AiohttpServer) -> None:
    """aiohttp's compressed echo of 1 MiB of random bytes fits our client's defaults."""
    with connect(f"{aiohttp_server.base_uri}/{uuid.uuid4()}") as client:
        client.send(ONE_MIB_RANDOM)
        assert client.recv(timeout=10 * SECONDS) == ONE_MIB_RANDOM


def test_our_client_sends_fragments(aiohttp_server: AiohttpServer) -> None:
    with our_client(aiohttp_server) as (client, _):
        client.send(["our ", "", "frag", "ments ✓"])
        assert client.recv(timeout=10 * SECONDS) == "our fragments ✓"
        client.send([b"\x00", b"", b"\xff"])
        assert client.recv(timeout=10 * SECONDS) == b"\x00\xff"


def test_our_client_compression(aiohttp_server: AiohttpServer) -> None:
    with our_client(aiohttp_server) as (client, path):
        headers, compress = aiohttp_server.event(path, "connection")
        check_deflate(headers.get("Sec-WebSocket-Extensions"))
        assert compress == 15
        check_deflate(client.response_headers.get("Sec-WebSocket-Extensions"))
        before = wire_bytes(client.socket)
        client.send(COMPRESSIBLE)
        assert client.recv(timeout=10 * SECONDS) == COMPRESSIBLE
        assert_compressed(wire_bytes(client.socket) - before)


def test_our_client_without_compression(aiohttp_server: AiohttpServer) -> None:
    path = f"/{uuid.uuid4()}"
    with connect(aiohttp_server.base_uri + path, compression=None, max_size=MAX_SIZE) as client:
        headers, compress = aiohttp_server.event(path, "connection")
        assert "Sec-WebSocket-Extensions" not in headers and compress == 0
        assert client.response_headers.get("Sec-WebSocket-Extensions") is None
        before = wire_bytes(client.socket)
        client.send(COMPRESSIBLE)
        assert client.recv(timeout=10 * SECONDS) == COMPRESSIBLE
        assert_compressed(wire_bytes(client.socket) - before, compressed=False)


def test_our_client_closes(aiohttp_server: AiohttpServer) -> None:
    with our_client(aiohttp_server) as (client, path):
        aiohttp_server.event(path, "connection")
        client.close(4000, "client bye ✓")
        # aiohttp answers a Close frame with a bare 1000 (RFC 6455 §5.5.1 allows it).
        assert (client.close_code, client.close_reason) == (1000, "")
        assert aiohttp_server.event(path, "close") == (4000, "client bye ✓")


def test_our_client_sees_aiohttp_close(aiohttp_server: AiohttpServer) -> None:
    with our_client(aiohttp_server) as (client, path):
        aiohttp_server.event(path, "connection")
        client.send("close 4001 server bye")
        assert client.recv(timeout=10 * SECONDS) == "closing 4001"
        with pytest.raises(ConnectionClosedError) as info:
            client.recv(timeout=10 * SECONDS)
        assert (info.value.code, info.value.reason) == (4001, "server bye")
        # aiohttp's close() records the code of the answer it got: our echo.
        assert aiohttp_server.event(path, "close") == (4001, None)
