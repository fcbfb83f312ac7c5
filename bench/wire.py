"""A minimal WebSocket codec for the fixed peers: the load generator and the fast server.

It depends on no implementation under test, so that the yardsticks stay the
same whichever library is being measured. It knows just enough of RFC 6455:
the opening handshake without extensions, frame headers, and masking.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Callable

__all__ = [
    "CLOSE",
    "MASK_IMPLEMENTATION",
    "OP_BINARY",
    "OP_TEXT",
    "PING",
    "PONG",
    "accept_key",
    "apply_mask",
    "client_frame",
    "frame_header",
    "handshake_request",
    "handshake_response",
    "server_frame",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_mask_c: Callable[[bytes | bytearray | memoryview, bytes], bytes] | None
try:  # The C helper of `websockets`, when the bench extra is installed.
    from websockets.speedups import apply_mask as _mask_c
except ImportError:  # pragma: no cover - depends on the environment
    _mask_c = None

#: Which masking routine the fixed peers use; recorded with the results.
MASK_IMPLEMENTATION = "websockets.speedups (C)" if _mask_c is not None else "int XOR (Python)"


def apply_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 §5.3)."""
    if _mask_c is not None:
        return _mask_c(data, key)
    length = len(data)
    if not length:
        return b""
    repeated = (key * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        length, "little"
    )


def accept_key(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def handshake_request(port: int, path: str = "/") -> bytes:
    """An opening handshake request that offers no extension and no subprotocol."""
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET %s HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n"
    ) % (path.encode(), port, key)


def handshake_response(request: bytes) -> bytes:
    """The 101 answer to a handshake request; no extension, no subprotocol.

    Raises:
        ValueError: The request has no Sec-WebSocket-Key header.
    """
    for line in request.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return (
                b"HTTP/1.1 101 Switching Protocols\r\n"
                b"Upgrade: websocket\r\n"
                b"Connection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: %s\r\n"
                b"\r\n"
            ) % accept_key(value.strip())
    raise ValueError("no Sec-WebSocket-Key in the request")


def frame_header(opcode: int, length: int, *, fin: bool = True, masked: bool = False) -> bytes:
    """The header of a frame, without the masking key (RFC 6455 §5.2)."""
    first = opcode | (0x80 if fin else 0)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return struct.pack("!BB", first, mask_bit | length)
    if length < 65536:
        return struct.pack("!BBH", first, mask_bit | 126, length)
    return struct.pack("!BBQ", first, mask_bit | 127, length)


def client_frame(opcode: int, payload: bytes, key: bytes = b"\x5a\x17\xc3\x8e") -> bytes:
    """A complete masked frame, as a client sends it; built once and resent as is."""
    return frame_header(opcode, len(payload), masked=True) + key + apply_mask(payload, key)


def server_frame(opcode: int, payload: bytes) -> bytes:
    """A complete unmasked frame, as a server sends it."""
    return frame_header(opcode, len(payload)) + payload
