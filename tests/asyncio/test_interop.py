"""The asyncio facade against the ``websockets`` library's asyncio implementation.

Their client against our facade server, our facade client against their
server: text, binary, fragmented and 1 MiB messages, pings, close codes.
Skipped when ``websockets`` isn't installed, except under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

import websockets_sync.asyncio as facade
from websockets_sync.asyncio import (
    ConnectionClosedError,
    ConnectionClosedOK,
    WebSocketServerProtocol,
)

from ..utils import server_uri
from .utils import run, until

try:
    from websockets.asyncio.client import connect as their_connect
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as their_serve
    from websockets.exceptions import ConnectionClosedError as TheirConnectionClosedError
    from websockets.exceptions import ConnectionClosedOK as TheirConnectionClosedOK
except ImportError:  # pragma: no cover - depends on the environment
    _reason = "the websockets library (>= 13, with websockets.asyncio) is not installed"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{_reason}; it is required when CI=true", pytrace=False)
    pytest.skip(_reason, allow_module_level=True)

ONE_MIB = 2**20
# Random-looking bytes, so that permessage-deflate doesn't shrink them away.
BIG_BINARY = bytes((i * 7919 + (i >> 8) * 104729) % 251 for i in range(ONE_MIB))
BIG_TEXT = "".join(chr(0x20 + (i * 31) % 95) for i in range(ONE_MIB))


async def chunks(*parts: Any) -> AsyncIterator[Any]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


# Their client, our server.


class OurServer:
    """Our facade server with one behaviour per path; records how connections ended."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, int | None, str | None]] = []

    async def handler(self, websocket: WebSocketServerProtocol, path: str) -> None:
        if path == "/fail":
            raise RuntimeError("handler bug")  # logged; 1011
        try:
            if path == "/echo":
                async for message in websocket:
                    await websocket.send(message)
            elif path == "/fragments":
                await websocket.send(["frag", "men", "ted"])
                await websocket.send(chunks(b"as", b"ync"))
                await websocket.wait_closed()
            elif path == "/ping":
                waiter = await websocket.ping()
                latency = await waiter
                await websocket.send(f"latency {latency > 0}")
                await websocket.wait_closed()
            elif path == "/close":
                await websocket.close(4002, "server bye")
            else:
                await websocket.wait_closed()
        finally:
            await websocket.wait_closed()
            self.ended.append((path, websocket.close_code, websocket.close_reason))


def test_their_client_our_server_messages() -> None:
    ours = OurServer()

    async def main() -> None:
        async with facade.serve(ours.handler, "127.0.0.1", 0) as server:
            async with their_connect(server_uri(server, "/echo")) as websocket:
                await websocket.send("text ✓")
                assert await websocket.recv() == "text ✓"
                await websocket.send(b"\x00binary\xff")
                assert await websocket.recv() == b"\x00binary\xff"
                await websocket.send(["frag", "men", "ted"])
                assert await websocket.recv() == "fragmented"
                await websocket.send(chunks(b"as", b"ync"))
                assert await websocket.recv() == b"async"
                await websocket.send(BIG_BINARY)
                assert await websocket.recv() == BIG_BINARY
                await websocket.send(BIG_TEXT)
                assert await websocket.recv() == BIG_TEXT
                latency = await (await websocket.ping())
                assert latency > 0

            async with their_connect(server_uri(server, "/fragments")) as websocket:
                assert [f async for f in websocket.recv_streaming()] == ["frag", "men", "ted"]
                assert [f async for f in websocket.recv_streaming()] == [b"as", b"ync"]

            async with their_connect(server_uri(server, "/ping")) as websocket:
                assert await websocket.recv() == "latency True"

    run(main())


def test_their_client_our_server_close_codes() -> None:
    ours = OurServer()

    async def main() -> None:
        async with facade.serve(ours.handler, "127.0.0.1", 0) as server:
            # They close with a code of their choice.
            async with their_connect(server_uri(server, "/idle")) as websocket:
                await websocket.close(4001, "client bye")
            await until(lambda: len(ours.ended) == 1, what="the handler to end")

            # Our handler closes with a code of its choice.
            async with their_connect(server_uri(server, "/close")) as websocket:
                with pytest.raises(TheirConnectionClosedError):
                    await websocket.recv()
                assert (websocket.close_code, websocket.close_reason) == (4002, "server bye")

            # Our handler returns: 1000.
            async with their_connect(server_uri(server, "/fragments")) as websocket:
                await websocket.recv()
                await websocket.recv()
            # Our handler fails: 1011.
            async with their_connect(server_uri(server, "/fail")) as websocket:
                with pytest.raises(TheirConnectionClosedError):
                    await websocket.recv()
                assert websocket.close_code == 1011

            # Our server closes: 1001.
            websocket = await their_connect(server_uri(server, "/idle"))
            await until(lambda: len(server.connections) == 1, what="the connection")
        with pytest.raises(TheirConnectionClosedOK):
            await websocket.recv()
        assert websocket.close_code == 1001

    run(main())
    assert ours.ended[0] == ("/idle", 4001, "client bye")
    assert ("/close", 4002, "server bye") in ours.ended
    assert ("/fragments", 1000, "") in ours.ended
    assert ("/idle", 1001, "server shutting down") in ours.ended


# Our client, their server.


class TheirServer:
    """The websockets library's server, one behaviour per path."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, int | None, str | None]] = []

    async def handler(self, websocket: ServerConnection) -> None:
        path = websocket.request.path if websocket.request is not None else ""
        try:
            if path == "/echo":
                async for message in websocket:
                    await websocket.send(message)
            elif path == "/streaming":
                # Tell how many frames each message came in.
                while True:
                    fragments = [f async for f in websocket.recv_streaming()]
                    await websocket.send(f"{len(fragments)} {''.join(map(str, fragments))}")
            elif path == "/fragments":
                await websocket.send(["frag", "men", "ted"])
                await websocket.wait_closed()
            elif path == "/ping":
                latency = await (await websocket.ping())
                await websocket.send(f"latency {latency > 0}")
                await websocket.wait_closed()
            elif path == "/close":
                await websocket.close(4004, "their bye")
            else:
                await websocket.wait_closed()
        except (TheirConnectionClosedOK, TheirConnectionClosedError):
            pass
        finally:
            await websocket.wait_closed()
            self.ended.append((path, websocket.close_code, websocket.close_reason))


def their_uri(server: Any, path: str) -> str:
    host, port = next(iter(server.sockets)).getsockname()[:2]
    return f"ws://{host}:{port}{path}"


def test_our_client_their_server_messages() -> None:
    theirs = TheirServer()

    async def main() -> None:
        async with their_serve(theirs.handler, "127.0.0.1", 0) as server:
            async with facade.connect(their_uri(server, "/echo")) as websocket:
                await websocket.send("text ✓")
                assert await websocket.recv() == "text ✓"
                await websocket.send(b"\x00binary\xff")
                assert await websocket.recv() == b"\x00binary\xff"
                await websocket.send(BIG_BINARY)
                assert await websocket.recv() == BIG_BINARY
                await websocket.send(BIG_TEXT)
                assert await websocket.recv() == BIG_TEXT
                latency = await (await websocket.ping())
                assert latency > 0
                assert websocket.latency == latency

            async with facade.connect(their_uri(server, "/streaming")) as websocket:
                await websocket.send(["frag", "men", "ted"])
                assert await websocket.recv() == "3 fragmented"
                await websocket.send(chunks("a", "sync"))
                assert await websocket.recv() == "2 async"
                await websocket.send("whole")
                assert await websocket.recv() == "1 whole"

            async with facade.connect(their_uri(server, "/fragments")) as websocket:
                assert await websocket.recv() == "fragmented"

            async with facade.connect(their_uri(server, "/ping")) as websocket:
                assert await websocket.recv() == "latency True"

    run(main())


def test_our_client_their_server_close_codes() -> None:
    theirs = TheirServer()

    async def main() -> None:
        async with their_serve(theirs.handler, "127.0.0.1", 0) as server:
            # We close with a code of our choice.
            async with facade.connect(their_uri(server, "/idle")) as websocket:
                await websocket.close(4003, "our bye")
            assert websocket.close_code == 4003  # echoed back by their server
            await until(lambda: len(theirs.ended) == 1, what="their handler to end")

            # Their handler closes with a code of its choice.
            async with facade.connect(their_uri(server, "/close")) as websocket:
                with pytest.raises(ConnectionClosedError) as raised:
                    await websocket.recv()
                assert (raised.value.code, raised.value.reason) == (4004, "their bye")
            assert (websocket.close_code, websocket.close_reason) == (4004, "their bye")

            # Their server closes: 1001.
            websocket = await facade.connect(their_uri(server, "/idle"))
        with pytest.raises(ConnectionClosedOK) as raised_ok:
            await websocket.recv()
        assert raised_ok.value.code == 1001
        await websocket.wait_closed()
        assert websocket.close_code == 1001

    run(main())
    assert theirs.ended[0] == ("/idle", 4003, "our bye")
    assert ("/close", 4004, "their bye") in theirs.ended
    assert ("/idle", 1001, "") in theirs.ended
