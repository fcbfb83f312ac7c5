"""Interoperability with other implementations over real loopback sockets.

- the ``websockets`` library's sync client against our server;
- our client against its sync server and its asyncio server (in a thread with
  its own event loop);
- ``websocket-client`` against our server.

Each exchange covers text, binary, empty and fragmented messages, 1 MiB
messages, permessage-deflate (RFC 7692) negotiated or not, ping/pong and
clean close codes and reasons in both directions (RFC 6455 §5 and §7).

The libraries are test dependencies: a missing one skips its tests locally,
and fails them when CI=true.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest

from websockets_sync import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, connect
from websockets_sync import serve as our_serve

from .utils import server_uri


def require(module: str, package: str) -> ModuleType:
    """Import a test dependency; skip without it, except on CI where it must be installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{package} is not installed (pip install {package})", allow_module_level=True)


websockets = require("websockets", "websockets")
websockets_sync_client = require("websockets.sync.client", "websockets")
websockets_sync_server = require("websockets.sync.server", "websockets")
websockets_asyncio_server = require("websockets.asyncio.server", "websockets")

MESSAGES: list[str | bytes] = ["héllo wörld", b"\x00\x01\xfe\xff", "", b"", "x" * 70_000]
MESSAGE_IDS = ["text", "binary", "empty-text", "empty-binary", "70k"]
ONE_MIB = 2**20
BIG_MESSAGES: list[str | bytes] = [os.urandom(ONE_MIB), "é" * (ONE_MIB // 2)]
# Room for a 1 MiB message plus anything a side counts on top of the payload.
MAX_SIZE = 2 * ONE_MIB

FRAGMENTS_TEXT = ["frag", "men", "", "ted"]
FRAGMENTS_BINARY = [b"\x00bin", b"", b"ary\xff"]

both_compressions = pytest.mark.parametrize(
    "compression", ["deflate", None], ids=["deflate", "uncompressed"]
)


def check_extensions(headers: Any, compression: str | None) -> None:
    """The Sec-WebSocket-Extensions response header matches what was asked (RFC 7692 §5)."""
    value = headers.get("Sec-WebSocket-Extensions")
    if compression == "deflate":
        assert value is not None and value.startswith("permessage-deflate"), value
    else:
        assert value is None


# The websockets sync client against our server.


def our_command_handler(closes: queue.Queue[tuple[int, str]]) -> Callable[[Any], None]:
    """An echo handler for our server that also obeys a few commands sent as text."""

    def handler(websocket: Any) -> None:
        try:
            for message in websocket:
                if message == "fragments?":
                    websocket.send(FRAGMENTS_TEXT)
                    websocket.send(FRAGMENTS_BINARY)
                elif message == "ping?":
                    latency = websocket.ping(b"from server").wait(timeout=5)
                    websocket.send(f"pong received {latency >= 0}")
                elif isinstance(message, str) and message.startswith("close "):
                    _, code, reason = message.split(" ", 2)
                    websocket.close(int(code), reason)
                else:
                    websocket.send(message)
        except ConnectionClosed:
            pass
        finally:
            closes.put((websocket.close_code, websocket.close_reason))

    return handler


@contextmanager
def ours_with_their_client(
    client_compression: str | None = "deflate", **server_options: Any
) -> Iterator[tuple[Any, queue.Queue[tuple[int, str]]]]:
    """Our server, and a websockets sync client connected to it."""
    closes: queue.Queue[tuple[int, str]] = queue.Queue()
    with our_serve(our_command_handler(closes), "127.0.0.1", 0, **server_options) as server:
        with websockets_sync_client.connect(
            server_uri(server), compression=client_compression, max_size=MAX_SIZE, proxy=None
        ) as client:
            yield client, closes


@both_compressions
@pytest.mark.parametrize("message", MESSAGES, ids=MESSAGE_IDS)
def test_their_client_messages(compression: str | None, message: str | bytes) -> None:
    with ours_with_their_client(compression) as (client, _):
        check_extensions(client.response.headers, compression)
        client.send(message)
        received = client.recv(timeout=5)
        assert received == message and type(received) is type(message)


@both_compressions
@pytest.mark.parametrize("message", BIG_MESSAGES, ids=["binary", "text"])
def test_their_client_one_mib(compression: str | None, message: str | bytes) -> None:
    with ours_with_their_client(compression, max_size=MAX_SIZE) as (client, _):
        client.send(message)
        assert client.recv(timeout=5) == message


@both_compressions
def test_their_client_fragmented_messages(compression: str | None) -> None:
    """Fragmented messages both ways: a sender's iterable arrives as one message."""
    with ours_with_their_client(compression) as (client, _):
        client.send(iter(["their ", "frag", "ments"]))
        assert client.recv(timeout=5) == "their fragments"
        client.send([b"\x01", b"\x02"])
        assert client.recv(timeout=5) == b"\x01\x02"
        client.send("fragments?")
        assert client.recv(timeout=5) == "".join(FRAGMENTS_TEXT)
        assert client.recv(timeout=5) == b"".join(FRAGMENTS_BINARY)


def test_their_client_server_without_compression() -> None:
    """Our server with compression=None declines their default offer."""
    with ours_with_their_client("deflate", compression=None) as (client, _):
        check_extensions(client.response.headers, None)
        client.send("plain")
        assert client.recv(timeout=5) == "plain"


def test_their_client_ping_pong() -> None:
    with ours_with_their_client() as (client, _):
        assert client.ping(b"from client").wait(timeout=5)
        client.send("ping?")
        assert client.recv(timeout=5) == "pong received True"


def test_their_client_closes_with_code_and_reason() -> None:
    with ours_with_their_client() as (client, closes):
        client.close(4000, "client bye")
        assert closes.get(timeout=5) == (4000, "client bye")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1000, websockets.ConnectionClosedOK),
        (1001, websockets.ConnectionClosedOK),
        (4001, websockets.ConnectionClosedError),
        (1011, websockets.ConnectionClosedError),
    ],
)
def test_their_client_sees_our_close_code_and_reason(code: int, expected: type) -> None:
    with ours_with_their_client() as (client, closes):
        client.send(f"close {code} server bye")
        with pytest.raises(expected) as info:
            client.recv(timeout=5)
        assert info.value.rcvd.code == code
        assert info.value.rcvd.reason == "server bye"
        assert closes.get(timeout=5) == (code, "server bye")


# Our client against the websockets sync and asyncio servers.


class CloseLog:
    """What the websockets servers' handlers saw when their connection closed, by request path.

    The servers are shared by the tests of this module (the sync one takes
    100 ms to shut down); each test connects to a path of its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[tuple[int | None, str | None]]] = {}

    def queue(self, path: str) -> queue.Queue[tuple[int | None, str | None]]:
        with self._lock:
            return self._queues.setdefault(path, queue.Queue())

    def record(self, websocket: Any) -> None:
        self.queue(websocket.request.path).put((websocket.close_code, websocket.close_reason))


CLOSES = CloseLog()


def their_sync_handler(websocket: Any) -> None:
    try:
        for message in websocket:
            if message == "fragments?":
                websocket.send(FRAGMENTS_TEXT)
                websocket.send(FRAGMENTS_BINARY)
            elif message == "ping?":
                assert websocket.ping(b"from server").wait(timeout=5)
                websocket.send("pong received True")
            elif isinstance(message, str) and message.startswith("close "):
                _, code, reason = message.split(" ", 2)
                websocket.close(int(code), reason)
            else:
                websocket.send(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        CLOSES.record(websocket)


async def their_asyncio_handler(websocket: Any) -> None:
    try:
        async for message in websocket:
            if message == "fragments?":
                await websocket.send(FRAGMENTS_TEXT)
                await websocket.send(FRAGMENTS_BINARY)
            elif message == "ping?":
                pong = await websocket.ping(b"from server")
                await asyncio.wait_for(pong, timeout=5)
                await websocket.send("pong received True")
            elif isinstance(message, str) and message.startswith("close "):
                _, code, reason = message.split(" ", 2)
                await websocket.close(int(code), reason)
            else:
                await websocket.send(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        CLOSES.record(websocket)


@contextmanager
def their_sync_server(**options: Any) -> Iterator[str]:
    """The websockets sync server, serving forever in a thread; yields its base URI."""
    server = websockets_sync_server.serve(their_sync_handler, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, name="test-websockets-sync-server")
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def their_asyncio_server(**options: Any) -> Iterator[str]:
    """The websockets asyncio server, in a thread with its own event loop; yields its base URI."""
    started: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = queue.Queue()

    async def main() -> None:
        stop = asyncio.Event()
        async with websockets_asyncio_server.serve(
            their_asyncio_handler, "127.0.0.1", 0, **options
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            started.put((asyncio.get_running_loop(), stop, port))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="test-websockets-asyncio")
    thread.start()
    loop, stop, port = started.get(timeout=5)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)


THEIR_SERVERS = {"sync": their_sync_server, "asyncio": their_asyncio_server}


@pytest.fixture(scope="module")
def their_sync_base_uri() -> Iterator[str]:
    with their_sync_server(max_size=MAX_SIZE) as uri:
        yield uri


@pytest.fixture(scope="module")
def their_asyncio_base_uri() -> Iterator[str]:
    with their_asyncio_server(max_size=MAX_SIZE) as uri:
        yield uri


@pytest.fixture(params=list(THEIR_SERVERS))
def their_server(
    request: pytest.FixtureRequest, their_sync_base_uri: str, their_asyncio_base_uri: str
) -> str:
    """The base URI of a websockets server: the sync one, then the asyncio one."""
    # Both are requested statically so that they start before the leak check.
    return their_sync_base_uri if request.param == "sync" else their_asyncio_base_uri


@contextmanager
def our_client(
    base_uri: str, compression: str | None = "deflate"
) -> Iterator[tuple[Any, queue.Queue[tuple[int | None, str | None]]]]:
    """Our client on a path of its own; yields it and where its server handler reports closing."""
    path = f"/{uuid.uuid4()}"
    with connect(base_uri + path, compression=compression, max_size=MAX_SIZE) as client:
        yield client, CLOSES.queue(path)


@both_compressions
@pytest.mark.parametrize("message", MESSAGES, ids=MESSAGE_IDS)
def test_our_client_messages(
    their_server: str, compression: str | None, message: str | bytes
) -> None:
    with our_client(their_server, compression) as (client, _):
        check_extensions(client.response_headers, compression)
        client.send(message)
        received = client.recv(timeout=5)
        assert received == message and type(received) is type(message)


@both_compressions
@pytest.mark.parametrize("message", BIG_MESSAGES, ids=["binary", "text"])
def test_our_client_one_mib(
    their_server: str, compression: str | None, message: str | bytes
) -> None:
    with our_client(their_server, compression) as (client, _):
        client.send(message)
        assert client.recv(timeout=5) == message


@both_compressions
def test_our_client_fragmented_messages(their_server: str, compression: str | None) -> None:
    with our_client(their_server, compression) as (client, _):
        client.send(f"{i}," for i in range(5))
        assert client.recv(timeout=5) == "0,1,2,3,4,"
        client.send([b"\x01", bytearray(b"\x02"), memoryview(b"\x03")])
        assert client.recv(timeout=5) == b"\x01\x02\x03"
        client.send("fragments?")
        assert client.recv(timeout=5) == "".join(FRAGMENTS_TEXT)
        assert client.recv(timeout=5) == b"".join(FRAGMENTS_BINARY)


@pytest.mark.parametrize("kind", list(THEIR_SERVERS))
def test_our_client_against_server_without_compression(kind: str) -> None:
    """Their server with compression=None declines our default offer."""
    with THEIR_SERVERS[kind](compression=None) as base_uri:
        with our_client(base_uri) as (client, _):
            check_extensions(client.response_headers, None)
            client.send(b"plain")
            assert client.recv(timeout=5) == b"plain"


def test_our_client_ping_pong(their_server: str) -> None:
    with our_client(their_server) as (client, _):
        assert client.ping(b"from client").wait(timeout=5) >= 0
        client.send("ping?")
        assert client.recv(timeout=5) == "pong received True"


def test_our_client_closes_with_code_and_reason(their_server: str) -> None:
    with our_client(their_server) as (client, closes):
        client.close(4000, "client bye")
        assert client.close_code == 4000 and client.close_reason == "client bye"
        assert closes.get(timeout=5) == (4000, "client bye")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1000, ConnectionClosedOK),
        (1001, ConnectionClosedOK),
        (4001, ConnectionClosedError),
        (1011, ConnectionClosedError),
    ],
)
def test_our_client_sees_their_close_code_and_reason(
    their_server: str, code: int, expected: type[ConnectionClosed]
) -> None:
    with our_client(their_server) as (client, closes):
        client.send(f"close {code} server bye")
        with pytest.raises(expected) as info:
            client.recv(timeout=5)
        assert info.value.code == code and info.value.reason == "server bye"
        client.wait_closed(timeout=5)
        assert client.close_code == code
        assert closes.get(timeout=5) == (code, "server bye")


# websocket-client against our server.


@pytest.fixture
def websocket_client_module() -> ModuleType:
    return require("websocket", "websocket-client")


def test_websocket_client(websocket_client_module: ModuleType) -> None:
    """websocket-client: messages, ping/pong and a clean close with a code."""
    abnf = websocket_client_module.ABNF
    closes: queue.Queue[tuple[int, str]] = queue.Queue()
    with our_serve(our_command_handler(closes), "127.0.0.1", 0) as server:
        ws = websocket_client_module.create_connection(server_uri(server), timeout=5)
        try:
            # websocket-client doesn't offer permessage-deflate.
            assert "sec-websocket-extensions" not in ws.getheaders()
            for message in ("héllo", "", "y" * 70_000):
                ws.send(message)
                assert ws.recv() == message
            for data in (b"\x00\xff", b""):
                ws.send_binary(data)
                assert ws.recv() == data
            ws.ping("are you there")
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert opcode == abnf.OPCODE_PONG and frame.data == b"are you there"
            ws.send("fragments?")
            assert ws.recv() == "".join(FRAGMENTS_TEXT)
            assert ws.recv() == b"".join(FRAGMENTS_BINARY)
            ws.close(status=4002, reason=b"wsc bye")
        finally:
            ws.shutdown()
        assert closes.get(timeout=5) == (4002, "wsc bye")


def test_websocket_client_sees_our_close(websocket_client_module: ModuleType) -> None:
    abnf = websocket_client_module.ABNF
    closes: queue.Queue[tuple[int, str]] = queue.Queue()
    with our_serve(our_command_handler(closes), "127.0.0.1", 0) as server:
        ws = websocket_client_module.create_connection(server_uri(server), timeout=5)
        try:
            ws.send("close 4003 server bye")
            opcode, frame = ws.recv_data_frame(control_frame=True)
            assert opcode == abnf.OPCODE_CLOSE
            assert frame.data == (4003).to_bytes(2, "big") + b"server bye"
        finally:
            ws.shutdown()
        # websocket-client answers every Close frame with 1000, without echoing
        # the code, which RFC 6455 §5.5.1 allows ("typically echos").
        assert closes.get(timeout=5) == (1000, "")
