"""Helpers shared by the I/O tests: the timing unit and small servers and clients."""

from __future__ import annotations

import importlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

import pytest

__all__ = [
    "MS",
    "Echo",
    "HTTPReply",
    "accelerator",
    "accept_response",
    "answer_close",
    "build_request",
    "http_exchange",
    "ipv6_loopback_available",
    "library_threads",
    "missing",
    "open_sockets",
    "raw_client",
    "raw_server",
    "read_client_frame",
    "read_http_head",
    "read_until_eof",
    "server_uri",
    "wait_for",
]

#: The timing unit of the tests: one millisecond, scaled on slow machines by
#: WEBSOCKETS_SYNC_TESTS_TIMEOUT_FACTOR.
MS = 0.001 * float(os.environ.get("WEBSOCKETS_SYNC_TESTS_TIMEOUT_FACTOR", "1"))


def missing(reason: str) -> NoReturn:
    """Something a test needs is not here: skip, except under CI=true, where it must be.

    The real peers of tests/interop and the C accelerator are optional on a
    developer machine; .ci/run installs or builds them.
    """
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} [CI=true: required]", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def accelerator(module: str, name: str) -> Any:
    """A function of one of the optional C accelerators; skipped (failed under CI) if not built."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        missing(f"the C accelerator {module} is not built")


def library_threads() -> set[threading.Thread]:
    """The live threads started by websockets_sync."""
    return {t for t in threading.enumerate() if t.name.startswith("websockets_sync-")}


def open_sockets() -> set[str]:
    """Identifiers of the sockets this process has open (Linux)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def server_uri(server: Any, path: str = "/") -> str:
    """The ws:// URI of the first listening socket of ``server``."""
    host, port = server.sockets[0].getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{port}{path}"


def Echo(websocket: Any) -> None:
    """A handler that echoes every message back."""
    for message in websocket:
        websocket.send(message)


@contextmanager
def raw_server(
    respond: Callable[[socket.socket], None],
) -> Iterator[tuple[str, int]]:
    """Listen on 127.0.0.1 and run ``respond(conn)`` for one connection in a thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    failures: list[BaseException] = []

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                respond(conn)
            except BaseException as exc:  # reported by the test
                failures.append(exc)

    thread = threading.Thread(target=run, name="test-raw-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        # Wake accept() if nobody connected.
        with suppress(OSError):
            socket.create_connection(listener.getsockname()[:2], timeout=1).close()
        thread.join(5)
        listener.close()
    if failures:
        raise failures[0]


@contextmanager
def raw_client(server: Any, timeout: float = 5.0) -> Iterator[socket.socket]:
    """A plain TCP connection to ``server``, closed on exit."""
    host, port = server.sockets[0].getsockname()[:2]
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()


class Pair:
    """A server-side and a client-side connection over loopback, for I/O tests."""

    def __init__(self, server: Any, server_side: Any, client: Any, release: threading.Event):
        self.server = server
        self.server_side = server_side
        self.client = client
        self._release = release

    def release(self) -> None:
        """Let the server handler return."""
        self._release.set()


@contextmanager
def connection_pair(
    server_options: dict[str, Any] | None = None,
    client_options: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
) -> Iterator[Pair]:
    """Serve one connection and connect to it; the server handler idles until the end."""
    import queue

    from websockets_sync import connect, serve

    connections: queue.Queue[Any] = queue.Queue()
    release = threading.Event()

    def handler(websocket: Any) -> None:
        connections.put(websocket)
        release.wait()

    with serve(handler, host, 0, **(server_options or {})) as server:
        client = connect(server_uri(server), **(client_options or {}))
        try:
            server_side = connections.get(timeout=5)
            yield Pair(server, server_side, client, release)
        finally:
            release.set()
            client.close()


HANDSHAKE_REQUEST = (
    b"GET / HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def open_raw_websocket(sock: socket.socket) -> bytes:
    """Perform a minimal client handshake on ``sock``; return bytes read past the response."""
    sock.sendall(HANDSHAKE_REQUEST)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"no handshake response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake failed: {head!r}")
    return rest


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = b"\x01\x02\x03\x04",
) -> bytes:
    """Build a raw frame by hand, independently of the library's serializer."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length < 126:
        header = bytes([first, mask_bit | length])
    elif length < 65536:
        header = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + length.to_bytes(8, "big")
    if mask is None:
        return header + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def read_frame(sock: socket.socket, buffer: bytearray) -> tuple[int, bool, bytes]:
    """Read one frame sent by a server: (opcode, fin, payload); raise EOFError at EOF."""
    first, payload = _read_raw_frame(sock, buffer)
    return first & 0x0F, bool(first & 0x80), payload


def _read_raw_frame(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """Read one frame, unmasking it if masked: (first header byte, payload)."""

    def need(size: int) -> None:
        while len(buffer) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            buffer.extend(chunk)

    need(2)
    first, second = buffer[0], buffer[1]
    length, offset = second & 0x7F, 2
    if length == 126:
        need(4)
        length, offset = int.from_bytes(buffer[2:4], "big"), 4
    elif length == 127:
        need(10)
        length, offset = int.from_bytes(buffer[2:10], "big"), 10
    mask = b""
    if second & 0x80:
        need(offset + 4)
        mask, offset = bytes(buffer[offset : offset + 4]), offset + 4
    need(offset + length)
    payload = bytes(buffer[offset : offset + length])
    del buffer[: offset + length]
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return first, payload


# Helpers for the server, client, interop and command line tests.


def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` every few milliseconds until it is true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(2 * MS)


def ipv6_loopback_available() -> bool:
    """Whether this host can listen on ::1."""
    if not socket.has_ipv6:
        return False
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


def build_request(
    path: str = "/",
    *,
    request_line: str | None = None,
    drop: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
    **replace: str,
) -> bytes:
    """A handshake request by hand: drop or replace headers (``Sec_WebSocket_Key=...``)."""
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    for name, value in replace.items():
        headers[name.replace("_", "-")] = value
    lines = [request_line or f"GET {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name not in drop]
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_until_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read until the peer closes; a reset after some data counts as the end too."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def http_exchange(server: Any, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes to ``server`` and return everything it answers until it hangs up."""
    with raw_client(server, timeout) as sock:
        sock.sendall(request)
        return read_until_eof(sock, timeout)


class HTTPReply:
    """A parsed HTTP response: status code, headers (lower-case names) and body."""

    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status_line = status_line
        self.status = int(status_line.split(" ")[1]) if status_line.startswith("HTTP/") else 0
        self.headers: dict[str, list[str]] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())

    def header(self, name: str) -> str | None:
        """The value of header ``name``, joined with commas if repeated; ``None`` if absent."""
        values = self.headers.get(name.lower())
        return None if values is None else ", ".join(values)


def read_http_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read an HTTP head up to the empty line; return it and the bytes after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def accept_response(request: bytes, extra: bytes = b"") -> bytes:
    """A valid 101 response to a captured handshake request, with optional raw header lines."""
    import base64
    import hashlib

    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n"
    )


def read_client_frame(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """Read one masked frame sent by a client: (opcode, unmasked payload); raise EOFError."""
    first, payload = _read_raw_frame(sock, buffer)
    return first & 0x0F, payload


def answer_close(sock: socket.socket, buffer: bytearray) -> bytes:
    """Read client frames until a Close; echo it back unmasked and return its payload."""
    while True:
        opcode, payload = read_client_frame(sock, buffer)
        if opcode == 0x8:
            sock.sendall(frame(0x8, payload, mask=None))
            return payload
