"""A raw WebSocket peer over a real socket, for the conformance tests.

It plays the other end against our code, the way Autobahn|Testsuite does:

- against our server (role ``"server"``) it is a client: it sends the opening
  handshake, optionally offers permessage-deflate, and masks its frames;
- against our client (role ``"client"``) it is a server: it answers the
  handshake of :func:`websockets_sync.connect`, optionally accepting
  permessage-deflate, and sends unmasked frames.

Our end echoes every message it receives (``for message in websocket:
websocket.send(message)``). The peer builds frames by hand, independently of
the library; sends bytes in one write, one write per frame or one per byte;
reads the frames our end sends and checks that they are well-formed; and
observes how the connection ends: the Close frame our end sent, and whether
our end closed the TCP connection promptly rather than after close_timeout.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from websockets_sync import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    connect,
    serve,
)

from ..utils import MS

__all__ = [
    "BINARY",
    "CLOSE",
    "CONT",
    "PING",
    "PONG",
    "PROMPT",
    "ROLES",
    "TEXT",
    "TIMEOUT",
    "Ours",
    "Peer",
    "RawFrame",
    "Split",
    "build_frame",
    "close_payload",
    "mask",
    "open_peer",
]

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Which of our ends is under test: our server (the peer is a client) or our client.
ROLES = ("server", "client")

#: How to cut bytes into TCP writes: all at once, one write per frame, one per byte.
Split = Literal["write", "frames", "octets"]

#: How long the peer waits for a frame it expects.
TIMEOUT = 5000 * MS
#: How soon our end must close the TCP connection after its Close frame when it
#: fails the connection or, as a server, ends the closing handshake (RFC 6455
#: §7.1.1, §7.1.7): far below close_timeout (10 s), after which it would be
#: a timeout, not a close.
PROMPT = 1000 * MS

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TAIL = b"\x00\x00\xff\xff"


def mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with ``key`` repeated (RFC 6455 §5.3), fast at any size."""
    length = len(data)
    if not length:
        return b""
    repeated = (key * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        length, "little"
    )


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """The payload of a Close frame; ``None`` for an empty one."""
    return b"" if code is None else code.to_bytes(2, "big") + reason


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    masked: bool,
    fin: bool = True,
    rsv: int = 0,
    length_field: bytes | None = None,
) -> bytes:
    """Build a frame by hand, masked with a random key as a client does, or not."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    if length_field is None:
        length_field = _length_field(len(payload))
    mask_bit = 0x80 if masked else 0
    header = bytes([first, mask_bit | length_field[0]]) + length_field[1:]
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + mask(payload, key)


@dataclass(frozen=True)
class RawFrame:
    """A frame as read from the wire, unmasked; the payload is still compressed."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0


@dataclass
class _Deflate:
    """permessage-deflate as negotiated: the peer's side and ours."""

    peer_no_context_takeover: bool
    our_no_context_takeover: bool
    peer_window: int
    our_window: int


class Ours:
    """Our end of the connection: the echo loop and what it saw."""

    def __init__(self) -> None:
        #: Our connection object, once the opening handshake is done.
        self.connection: Any = None
        #: Messages our end received, in order.
        self.received: list[str | bytes] = []
        #: How the echo loop ended: ``None`` after a normal close.
        self.exception: ConnectionClosed | None = None
        #: Why our client's opening handshake failed, if it did.
        self.handshake_error: BaseException | None = None
        #: Set when the echo loop ended.
        self.done = threading.Event()

    def echo(self, websocket: Any) -> None:
        """Echo every message until the connection closes."""
        self.connection = websocket
        try:
            for message in websocket:
                self.received.append(message)
                websocket.send(message)
        except ConnectionClosed as exc:
            self.exception = exc
        finally:
            self.done.set()

    def run_client(self, uri: str, options: dict[str, Any]) -> None:
        """Connect our client and echo; record a failed handshake."""
        try:
            websocket = connect(uri, **options)
        except BaseException as exc:
            self.handshake_error = exc
            self.done.set()
            return
        with websocket:
            self.echo(websocket)

    def wait(self) -> None:
        """Wait until the echo loop ended."""
        assert self.done.wait(TIMEOUT), "our end is still running"


class Peer:
    """The raw end of one connection; see the module docstring."""

    def __init__(
        self,
        sock: socket.socket,
        role: str,
        ours: Ours,
        *,
        leftover: bytes,
        extensions: str | None,
    ) -> None:
        self.sock = sock
        #: Which of our ends is under test.
        self.role = role
        self.ours = ours
        #: The Sec-WebSocket-Extensions value of the handshake response: our
        #: server's, or the peer's own answer to our client.
        self.extensions = extensions
        self._buffer = bytearray(leftover)
        # RFC 6455 §5.1: clients mask, servers don't.
        self._masks = role == "server"
        self.deflate = _parse_deflate(extensions, role)
        self._compressor: Any = None
        self._decompressor: Any = None
        #: The masking keys of the frames our client sent.
        self.mask_keys: list[bytes] = []

    # Building frames.

    def frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        length_field: bytes | None = None,
    ) -> bytes:
        """Build a frame; ``length_field`` replaces the encoded payload length."""
        return build_frame(
            opcode, payload, masked=self._masks, fin=fin, rsv=rsv, length_field=length_field
        )

    def header(self, opcode: int, length: int, *, fin: bool = True, rsv: int = 0) -> bytes:
        """The header of a frame (masking key included), without its payload."""
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        length_field = _length_field(length)
        mask_bit = 0x80 if self._masks else 0
        key = os.urandom(4) if self._masks else b""
        return bytes([first, mask_bit | length_field[0]]) + length_field[1:] + key

    def message(
        self,
        message: str | bytes,
        *,
        fragments: int | Sequence[int] | None = None,
        compress: bool = False,
    ) -> list[bytes]:
        """The frames of a message: in one frame, or cut in ``fragments``.

        ``fragments`` is a fragment size, or a list of sizes, the rest of the
        payload going into one last fragment. With ``compress``, the payload is deflated first and
        RSV1 is set on the first frame only (RFC 7692 §6.1).
        """
        opcode = TEXT if isinstance(message, str) else BINARY
        payload = message.encode() if isinstance(message, str) else message
        if compress:
            payload = self.compress(payload)
        if fragments is None:
            return [self.frame(opcode, payload, rsv=4 if compress else 0)]
        pieces = _cut(payload, fragments)
        return [
            self.frame(
                opcode if index == 0 else CONT,
                piece,
                fin=index == len(pieces) - 1,
                rsv=4 if compress and index == 0 else 0,
            )
            for index, piece in enumerate(pieces)
        ]

    def compress(self, payload: bytes) -> bytes:
        """Deflate one message as the peer (RFC 7692 §7.2.1), with its context."""
        assert self.deflate is not None, "permessage-deflate wasn't negotiated"
        if self._compressor is None:
            # zlib refuses an 8-bit window for raw deflate; 9 stays within 256 bytes.
            wbits = max(self.deflate.peer_window, 9)
            self._compressor = zlib.compressobj(wbits=-wbits)
        data: bytes = self._compressor.compress(payload)
        data += self._compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(_TAIL)
        if self.deflate.peer_no_context_takeover:
            self._compressor = None
        return data[:-4]

    # Sending.

    def send(
        self,
        *frames: bytes,
        split: Split = "write",
        chunk: int | None = None,
        pause: float = 0.0,
    ) -> None:
        """Send bytes in one write, one write per frame or per byte, or in ``chunk``-byte writes.

        ``pause`` seconds between writes make each one arrive on its own.
        """
        if chunk is not None:
            data = b"".join(frames)
            writes: Sequence[bytes] = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        elif split == "write":
            writes = [b"".join(frames)]
        elif split == "frames":
            writes = frames
        else:
            writes = [bytes([byte]) for data in frames for byte in data]
        for index, data in enumerate(writes):
            if pause and index:
                time.sleep(pause)
            self.sock.sendall(data)

    def send_message(self, message: str | bytes, **kwargs: Any) -> None:
        """Send a message built by :meth:`message`, in one write."""
        self.send(*self.message(message, **kwargs))

    # Receiving.

    def recv_frame(self, timeout: float = TIMEOUT) -> RawFrame:
        """Read the next frame from our end and check that it is well-formed.

        Raises:
            EOFError: Our end closed the TCP connection.
        """
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        first, second = self._buffer[0], self._buffer[1]
        opcode, fin, rsv = first & 0x0F, bool(first & 0x80), (first >> 4) & 0x07
        length, offset = second & 0x7F, 2
        if length == 126:
            self._need(4, deadline)
            length, offset = int.from_bytes(self._buffer[2:4], "big"), 4
            assert length >= 126, "our end didn't encode the length minimally"
        elif length == 127:
            self._need(10, deadline)
            length, offset = int.from_bytes(self._buffer[2:10], "big"), 10
            assert length >= 65536, "our end didn't encode the length minimally"
        # RFC 6455 §5.1: our client masks every frame, our server none.
        masked = bool(second & 0x80)
        assert masked is (self.role == "client"), f"our {self.role} got masking wrong"
        key_size = 4 if masked else 0
        self._need(offset + key_size + length, deadline)
        key = bytes(self._buffer[offset : offset + key_size])
        payload = bytes(self._buffer[offset + key_size : offset + key_size + length])
        del self._buffer[: offset + key_size + length]
        if masked:
            self.mask_keys.append(key)
            payload = mask(payload, key)
        assert opcode in (CONT, TEXT, BINARY, CLOSE, PING, PONG), f"our end sent opcode {opcode}"
        if opcode >= CLOSE:
            assert fin and length <= 125, "our end sent an invalid control frame"
            assert rsv == 0, "our end set RSV bits on a control frame"
        elif rsv:
            # RFC 7692 §6.1: RSV1 on the first frame of a compressed message only.
            assert rsv == 4 and self.deflate is not None and opcode != CONT, (
                f"our end set RSV bits {rsv:03b} without an extension that defines them"
            )
        return RawFrame(opcode, payload, fin, rsv)

    def recv_message(self, timeout: float = TIMEOUT) -> str | bytes:
        """Read the next data message, reassembled and decompressed."""
        deadline = time.monotonic() + timeout
        frames = [self._recv_data_frame(deadline)]
        assert frames[0].opcode in (TEXT, BINARY), "our end sent a continuation first"
        while not frames[-1].fin:
            frames.append(self._recv_data_frame(deadline))
            assert frames[-1].opcode == CONT, "our end interleaved two messages"
        payload = b"".join(frame.payload for frame in frames)
        if frames[0].rsv:
            payload = self._decompress(payload)
        if frames[0].opcode == BINARY:
            return payload
        try:
            return payload.decode()
        except UnicodeDecodeError as exc:
            raise AssertionError(f"our end sent invalid UTF-8: {exc}") from None

    def _recv_data_frame(self, deadline: float) -> RawFrame:
        frame = self.recv_frame(max(deadline - time.monotonic(), 0))
        assert frame.opcode < CLOSE, f"expected a data frame, got {frame}"
        return frame

    def _decompress(self, payload: bytes) -> bytes:
        assert self.deflate is not None
        if self._decompressor is None:
            self._decompressor = zlib.decompressobj(wbits=-self.deflate.our_window)
        try:
            # A decompressor keeps only our_window bytes of context between
            # messages: if our end refers further back, this fails.
            data: bytes = self._decompressor.decompress(payload + _TAIL)
        except zlib.error as exc:
            raise AssertionError(f"our end sent data the peer can't inflate: {exc}") from None
        if self.deflate.our_no_context_takeover:
            # A fresh decompressor proves that our end reset its compressor.
            self._decompressor = None
        return data

    # Observing the end of the connection.

    def fails_with(self, code: int) -> list[RawFrame]:
        """Check that our end fails the connection with ``code`` (RFC 6455 §7.1.7).

        Our end must send a Close frame with that code, then close the TCP
        connection promptly, without waiting for the peer's Close frame; its
        application must see a :class:`ConnectionClosedError` that reports
        that code as sent and no Close frame received.

        Returns:
            The frames our end sent before its Close frame.
        """
        frames, payload = self.read_to_close()
        assert _code(payload) == code, f"expected close code {code}, got {payload!r}"
        self._expect_eof(PROMPT)
        self.sock.close()
        self.ours.wait()
        exc = self.ours.exception
        assert isinstance(exc, ConnectionClosedError), f"our end saw {exc!r}"
        assert exc.sent is not None and exc.sent.code == code, f"our end saw {exc!r}"
        assert exc.rcvd is None, f"our end saw {exc!r}"
        return frames

    def closes_cleanly(self, payload: bytes = close_payload(1000)) -> list[RawFrame]:
        """Send a Close frame and check the closing handshake (RFC 6455 §5.5.1, §7.1).

        Our end must echo the code and close the TCP connection first when it
        is the server; the peer closes it when our end is the client, which
        must wait for that. Our end then reports the code received.

        Returns:
            The frames our end sent before its Close frame.
        """
        self.send(self.frame(CLOSE, payload))
        return self.close_answered(payload)

    def close_answered(self, payload: bytes) -> list[RawFrame]:
        """The second half of :meth:`closes_cleanly`, once the Close frame is sent."""
        frames, echo = self.read_to_close()
        assert _code(echo) == _code(payload), f"our end answered {echo!r} to {payload!r}"
        if self.role == "server":
            self._expect_eof(PROMPT)
        else:
            # RFC 6455 §7.1.1: the client waits for the server to close TCP.
            assert not self._eof_now(), "our client closed the TCP connection first"
        self.sock.close()
        self.ours.wait()
        connection = self.ours.connection
        connection.wait_closed(TIMEOUT)
        code = _code(payload)
        assert connection.close_code == code
        exc = self.ours.exception
        if code in (1000, 1001, 1005):
            # ConnectionClosedOK from a send() that lost the race with the close.
            assert exc is None or isinstance(exc, ConnectionClosedOK), f"our end saw {exc!r}"
        else:
            assert isinstance(exc, ConnectionClosedError) and exc.code == code, repr(exc)
        return frames

    def read_to_close(self) -> tuple[list[RawFrame], bytes]:
        """Read frames up to our Close frame; return the frames before it and its payload."""
        frames: list[RawFrame] = []
        while True:
            try:
                frame = self.recv_frame()
            except EOFError:
                raise AssertionError(
                    f"our end closed the TCP connection without a Close frame after {frames}"
                ) from None
            if frame.opcode == CLOSE:
                return frames, frame.payload
            frames.append(frame)

    def _expect_eof(self, timeout: float) -> None:
        """Check that our end closes the TCP connection within ``timeout`` and sends nothing."""
        deadline = time.monotonic() + timeout
        try:
            self._need(len(self._buffer) + 1, deadline)
        except EOFError:
            pass
        else:
            raise AssertionError(f"our end sent bytes after its Close frame: {self._buffer!r}")

    def _eof_now(self) -> bool:
        """Whether our end has already closed the TCP connection (no waiting)."""
        self.sock.settimeout(0)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True

    def _need(self, size: int, deadline: float) -> None:
        while len(self._buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for our end; got {self._buffer!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError("our end closed the TCP connection")
            self._buffer += chunk


@contextmanager
def open_peer(
    role: str,
    *,
    extensions: str | None = None,
    early: Sequence[tuple[int, bytes]] = (),
    **options: Any,
) -> Iterator[Peer]:
    """Open a connection between the raw peer and our server or client, which echoes.

    Args:
        role: ``"server"`` to test our server, ``"client"`` to test our client.
        extensions: The Sec-WebSocket-Extensions value the peer sends: its
            offer to our server, or its answer to our client's offer.
        early: Frames, as (opcode, payload), that the peer sends in the same
            write as its handshake request or response.
        options: Options of :func:`~websockets_sync.serve` or
            :func:`~websockets_sync.connect`; keepalive pings are off by default.
    """
    options.setdefault("ping_interval", None)
    frames = b"".join(
        build_frame(opcode, payload, masked=role == "server") for opcode, payload in early
    )
    if role == "server":
        with _open_server_peer(extensions, frames, options) as peer:
            yield peer
    else:
        with _open_client_peer(extensions, frames, options) as peer:
            yield peer


@contextmanager
def _open_server_peer(offer: str | None, early: bytes, options: dict[str, Any]) -> Iterator[Peer]:
    ours = Ours()
    with serve(ours.echo, "127.0.0.1", 0, **options) as server:
        address = server.sockets[0].getsockname()
        sock = socket.create_connection(address, timeout=TIMEOUT)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            leftover, extensions = _client_handshake(sock, offer, early)
            yield Peer(sock, "server", ours, leftover=leftover, extensions=extensions)
        finally:
            sock.close()
            ours.done.wait(TIMEOUT)


@contextmanager
def _open_client_peer(answer: str | None, early: bytes, options: dict[str, Any]) -> Iterator[Peer]:
    ours = Ours()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    thread = threading.Thread(
        target=ours.run_client,
        args=(f"ws://127.0.0.1:{port}/", options),
        name="test-conformance-client",
        daemon=True,
    )
    thread.start()
    sock: socket.socket | None = None
    try:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        leftover = _server_handshake(sock, answer, early)
        yield Peer(sock, "client", ours, leftover=leftover, extensions=answer)
    finally:
        if sock is not None:
            sock.close()
        thread.join(TIMEOUT)
        listener.close()


def _client_handshake(
    sock: socket.socket, offer: str | None, early: bytes
) -> tuple[bytes, str | None]:
    """Open the connection as a client; return leftover bytes and the extensions accepted."""
    key = base64.b64encode(os.urandom(16))
    lines = [
        b"GET / HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + key,
        b"Sec-WebSocket-Version: 13",
    ]
    if offer is not None:
        lines.append(b"Sec-WebSocket-Extensions: " + offer.encode())
    sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + early)
    status, headers, leftover = _read_head(sock)
    assert status.startswith(b"HTTP/1.1 101 "), f"our server answered {status!r}"
    assert headers.get(b"sec-websocket-accept") == _accept(key)
    extensions = headers.get(b"sec-websocket-extensions")
    return leftover, None if extensions is None else extensions.decode()


def _server_handshake(sock: socket.socket, answer: str | None, early: bytes) -> bytes:
    """Accept our client's handshake; return leftover bytes."""
    request, headers, leftover = _read_head(sock)
    assert request.startswith(b"GET / HTTP/1.1"), f"our client sent {request!r}"
    assert headers.get(b"sec-websocket-version") == b"13"
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + _accept(headers[b"sec-websocket-key"]),
    ]
    if answer is not None:
        lines.append(b"Sec-WebSocket-Extensions: " + answer.encode())
    sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + early)
    return leftover


def _read_head(sock: socket.socket) -> tuple[bytes, dict[bytes, bytes], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed during the handshake: {data!r}")
        data += chunk
    head, _, leftover = data.partition(b"\r\n\r\n")
    first, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return first, headers, leftover


def _accept(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def _parse_deflate(extensions: str | None, role: str) -> _Deflate | None:
    """What permessage-deflate negotiated, from the handshake response; ``None`` if nothing."""
    if extensions is None:
        return None
    name, *items = (item.strip() for item in extensions.split(";"))
    if name != "permessage-deflate" or "," in extensions:
        return None  # something our client must reject
    params: dict[str, str | None] = {}
    for item in items:
        key, _, value = item.partition("=")
        params[key.strip()] = value.strip().strip('"') or None
    server = (
        "server_no_context_takeover" in params,
        int(params.get("server_max_window_bits") or 15),
    )
    client = (
        "client_no_context_takeover" in params,
        int(params.get("client_max_window_bits") or 15),
    )
    # Against our server the peer is the client, and the other way around.
    peer, our = (client, server) if role == "server" else (server, client)
    return _Deflate(peer[0], our[0], peer[1], our[1])


def _length_field(length: int) -> bytes:
    if length < 126:
        return bytes([length])
    if length < 65536:
        return b"\x7e" + length.to_bytes(2, "big")
    return b"\x7f" + length.to_bytes(8, "big")


def _cut(payload: bytes, fragments: int | Sequence[int]) -> list[bytes]:
    if isinstance(fragments, int):
        size = fragments
        return [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    pieces, offset = [], 0
    for size in fragments:
        pieces.append(payload[offset : offset + size])
        offset += size
    if offset < len(payload):
        pieces.append(payload[offset:])
    return pieces


def _code(payload: bytes) -> int:
    """The close code of a Close payload; 1005 for an empty one (RFC 6455 §7.1.5)."""
    return 1005 if not payload else int.from_bytes(payload[:2], "big")
