"""What the interop tests share: the skip/fail policy, the message matrix, our server.

Every peer runs the same matrix against the same server: text, binary, empty,
fragmented, 1 MiB and compressed messages, then clean closes with a code and a
reason in both directions (RFC 6455 §5.4, §7; RFC 7692).
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import queue
import socket
import struct
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from websockets_sync import ConnectionClosed, serve

from ..utils import MS, library_threads, missing, open_sockets, server_uri, wait_for

__all__ = [
    "ALL_MESSAGES",
    "BIG_MESSAGES",
    "COMPRESSIBLE",
    "FRAGMENTS_BINARY",
    "FRAGMENTS_TEXT",
    "MAX_SIZE",
    "MESSAGES",
    "ONE_MIB",
    "ONE_MIB_RANDOM",
    "SECONDS",
    "OurServer",
    "ServerSide",
    "WireBytes",
    "assert_compressed",
    "assert_released",
    "check_deflate",
    "decode_message",
    "encode_message",
    "missing",
    "require",
    "require_module",
    "snapshot",
    "wire_bytes",
]

T = TypeVar("T")

#: One second of the tests' timing unit (scaled by WEBSOCKETS_SYNC_TESTS_TIMEOUT_FACTOR).
SECONDS = 1000 * MS


# The skip/fail policy.


def require(tool: T | None, reason: str) -> T:
    """Return ``tool`` (a path, a module, ...); if it is ``None``, skip or fail with ``reason``."""
    if tool is None:
        missing(reason)
    return tool


def require_module(name: str, package: str) -> ModuleType:
    """Import a Python peer; skip or fail when it is not installed."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        module = None
    return require(module, f"{package} is not installed (pip install {package})")


# The message matrix.

ONE_MIB = 2**20
#: Room for a 1 MiB message on every side, including what a side counts on top.
MAX_SIZE = 2 * ONE_MIB

MESSAGES: dict[str, str | bytes] = {
    "text": "héllo wörld ✓ 😀",
    "binary": b"\x00\x01\xfe\xff",
    "empty-text": "",
    "empty-binary": b"",
}
# Random, so that compression can't shrink them: the frames really are big
# (and compressed ones a little bigger than the message).
BIG_MESSAGES: dict[str, str | bytes] = {
    "1mib-binary": os.urandom(ONE_MIB),
    "1mib-text": base64.b64encode(os.urandom(ONE_MIB * 3 // 4)).decode() + "é✓😀",
}
#: Exactly 1 MiB of random bytes. Compressed by a peer, its frames are 2-3 KiB
#: larger (deflate stored blocks), and our default max_size (1 MiB, which "applies
#: to the decompressed size") must still accept it.
ONE_MIB_RANDOM = BIG_MESSAGES["1mib-binary"]
#: Every message of the matrix, small and big.
ALL_MESSAGES = {**MESSAGES, **BIG_MESSAGES}
#: 1 MiB that deflate shrinks to a few KiB: the bytes on the wire tell if it was compressed.
COMPRESSIBLE = ("Compress me, please! " * (ONE_MIB // 21 + 1))[:ONE_MIB]
# What our server sends, fragmented, in answer to "fragments?".
FRAGMENTS_TEXT = ["frag", "mén", "", "ted ✓"]
FRAGMENTS_BINARY = [b"\x00bin", b"", b"ary\xff"]


def encode_message(message: str | bytes) -> dict[str, str]:
    """A message as JSON for the Node and browser peers: {"text": ...} or {"b64": ...}."""
    if isinstance(message, str):
        return {"text": message}
    return {"b64": base64.b64encode(message).decode()}


def decode_message(data: dict[str, Any]) -> str | bytes:
    """The reverse of :func:`encode_message`."""
    if "b64" in data:
        return base64.b64decode(data["b64"])
    text: str = data["text"]
    return text


# Bytes on the wire, from the kernel (Linux struct tcp_info).

# Offsets of tcpi_bytes_acked and tcpi_bytes_received, stable since Linux 4.1:
# 8 one-byte fields and 24 32-bit fields, then tcpi_pacing_rate and
# tcpi_max_pacing_rate (u64), then the two counters.
_TCP_INFO_BYTES_ACKED = 120
_TCP_INFO_SIZE = 136


@dataclass(frozen=True)
class WireBytes:
    """TCP payload bytes sent (and acknowledged by the peer) and received on a socket."""

    sent: int
    received: int

    def __sub__(self, other: WireBytes) -> WireBytes:
        return WireBytes(self.sent - other.sent, self.received - other.received)


def wire_bytes(sock: socket.socket | None) -> WireBytes:
    """What the kernel counted on ``sock``: handshake, frame headers, payloads."""
    assert sock is not None, "the connection has no socket"
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    assert len(info) >= _TCP_INFO_SIZE, "this kernel's tcp_info has no byte counters"
    sent, received = struct.unpack_from("=QQ", info, _TCP_INFO_BYTES_ACKED)
    return WireBytes(sent, received)


def assert_compressed(delta: WireBytes, *, compressed: bool = True) -> None:
    """Check the wire bytes of one COMPRESSIBLE message sent each way (plus a little)."""
    if compressed:
        # Deflate shrinks COMPRESSIBLE to a few KiB each way.
        assert delta.sent < ONE_MIB // 16 and delta.received < ONE_MIB // 16, delta
    else:
        assert delta.sent >= ONE_MIB and delta.received >= ONE_MIB, delta


# Our server, with a handler that echoes and obeys a few commands sent as text.


@dataclass
class ServerSide:
    """What our server saw of one connection."""

    path: str
    request_headers: Any
    response_headers: Any
    close_code: int | None = None
    close_reason: str | None = None
    closed: threading.Event = field(default_factory=threading.Event)

    def extensions(self) -> tuple[str | None, str | None]:
        """Sec-WebSocket-Extensions offered by the client and accepted by our server."""
        return (
            self.request_headers.get("Sec-WebSocket-Extensions"),
            self.response_headers.get("Sec-WebSocket-Extensions"),
        )

    def close_seen(self, timeout: float = 5 * SECONDS) -> tuple[int | None, str | None]:
        """The close code and reason our handler saw, once the connection is closed."""
        assert self.closed.wait(timeout), f"{self.path}: our handler didn't finish"
        return self.close_code, self.close_reason


def respond(websocket: Any, message: str | bytes) -> None:
    """Answer one message: the commands below, otherwise an echo.

    - ``fragments?``: send FRAGMENTS_TEXT and FRAGMENTS_BINARY as two fragmented messages;
    - ``wire?``: send the socket's WireBytes as JSON;
    - ``close CODE REASON``: send ``closing CODE``, then close with CODE and REASON.
    """
    if message == "fragments?":
        websocket.send(FRAGMENTS_TEXT)
        websocket.send(FRAGMENTS_BINARY)
    elif message == "wire?":
        wire = wire_bytes(websocket.socket)
        websocket.send(json.dumps({"sent": wire.sent, "received": wire.received}))
    elif isinstance(message, str) and message.startswith("close "):
        _, code, reason = message.split(" ", 2)
        websocket.send(f"closing {code}")
        websocket.close(int(code), reason)
    else:
        websocket.send(message)


class OurServer:
    """A websockets_sync server on 127.0.0.1 whose handler calls :func:`respond`.

    Records a :class:`ServerSide` per connection, in order of arrival. Its
    max_size leaves room for 1 MiB messages, unless ``default_limits`` is set.
    """

    def __init__(self, *, default_limits: bool = False, **options: Any) -> None:
        if not default_limits:
            options.setdefault("max_size", MAX_SIZE)
        self._sides: queue.Queue[ServerSide] = queue.Queue()
        self._by_path: dict[str, ServerSide] = {}  # taken from _sides by side_for()
        self.server = serve(self._handler, "127.0.0.1", 0, **options)

    @property
    def port(self) -> int:
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    def uri(self, path: str = "/") -> str:
        return server_uri(self.server, path)

    def next_side(self, timeout: float = 5 * SECONDS) -> ServerSide:
        """The next connection our server accepted."""
        try:
            return self._sides.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no connection reached our server") from None

    def side_for(self, path: str, timeout: float = 5 * SECONDS) -> ServerSide:
        """The connection our server accepted for ``path`` (for servers shared by tests)."""
        while path not in self._by_path:
            side = self.next_side(timeout)
            self._by_path[side.path] = side
        return self._by_path.pop(path)

    def wait_idle(self, timeout: float = 5 * SECONDS) -> None:
        """Wait until every connection is closed (a proxy may close its side late)."""
        wait_for(lambda: not self.server.connections, timeout, "our server's connections to end")

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> OurServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _handler(self, websocket: Any) -> None:
        side = ServerSide(websocket.path, websocket.request_headers, websocket.response_headers)
        self._sides.put(side)
        try:
            for message in websocket:
                respond(websocket, message)
        except ConnectionClosed:
            pass
        finally:
            side.close_code, side.close_reason = websocket.close_code, websocket.close_reason
            side.closed.set()


# Leaks of module-scoped runs, which the autouse fixture doesn't see.


@dataclass(frozen=True)
class _Snapshot:
    threads: set[threading.Thread]
    sockets: set[str]


def snapshot() -> _Snapshot:
    """The library threads and the sockets open now, for :func:`assert_released`."""
    return _Snapshot(library_threads(), open_sockets())


def assert_released(before: _Snapshot, timeout: float = 3.0) -> None:
    """Like the autouse leak check, for work done in a module-scoped fixture."""

    def released() -> bool:
        return not (library_threads() - before.threads or open_sockets() - before.sockets)

    wait_for(released, timeout, "threads and sockets to be released")


def check_deflate(value: str | None) -> None:
    """Check a Sec-WebSocket-Extensions value: permessage-deflate was negotiated."""
    assert value is not None and value.startswith("permessage-deflate"), value
