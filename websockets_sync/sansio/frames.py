"""WebSocket frames (RFC 6455 §5): opcodes, masking, headers and Close payloads.

This module knows the wire format and nothing about connection state; the
state machine in :mod:`websockets_sync.sansio.protocol` decides which frames
are allowed when.
"""

from __future__ import annotations

import enum
import os
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..exceptions import ProtocolError
from . import accelerators

__all__ = [
    "ACCELERATED",
    "CLOSE_CODES",
    "CTRL_OPCODES",
    "DATA_OPCODES",
    "OK_CLOSE_CODES",
    "Close",
    "CloseCode",
    "Frame",
    "Opcode",
    "apply_mask",
    "apply_mask_python",
    "frame_parts",
    "serialize_frame",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2); every other value is reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


# The opcodes as module globals, for code that runs for every frame: on
# Python 3.11, reading Opcode.TEXT goes through EnumType.__getattr__, about
# fifteen times slower than a global name.
OP_CONT, OP_TEXT, OP_BINARY = Opcode.CONT, Opcode.TEXT, Opcode.BINARY
OP_CLOSE, OP_PING, OP_PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG


DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
CTRL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})


class CloseCode(enum.IntEnum):
    """Close codes registered with IANA (RFC 6455 §7.4.1 and the registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: Codes that may appear in a Close frame on the wire; 3000-4999 are allowed too.
#: 1005, 1006 and 1015 are for local reporting only (RFC 6455 §7.4.1).
CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

#: Codes of a connection that closed as intended.
OK_CLOSE_CODES = frozenset({1000, 1001, 1005})

_CLOSE_CODE_NAMES = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received [internal]",
    1006: "connection closed abnormally [internal]",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS failure [internal]",
}


@dataclass(slots=True)
class Frame:
    """One WebSocket frame, payload unmasked.

    Attributes:
        opcode: The frame's opcode.
        data: The payload.
        fin: Whether this is the last frame of its message.
        rsv1: First reserved bit, claimed by extensions such as permessage-deflate.
        rsv2: Second reserved bit.
        rsv3: Third reserved bit.
    """

    opcode: Opcode
    data: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __str__(self) -> str:
        return f"{self.opcode.name} {_preview(self)} [{len(self.data)} bytes]" + (
            "" if self.fin else " [continued]"
        )


def _preview(frame: Frame, limit: int = 75) -> str:
    """Describe a payload in a few words, for debug logs."""
    if frame.opcode is Opcode.TEXT and not frame.rsv1:
        text = bytes(frame.data).decode(errors="replace")
        shown = repr(text if len(text) <= limit else text[: limit - 3] + "...")
    elif frame.opcode is Opcode.CLOSE:
        try:
            shown = str(Close.parse(frame.data))
        except (ProtocolError, UnicodeDecodeError):
            shown = "invalid close payload"
    else:
        data = bytes(frame.data[: (limit - 3) // 3 + 1])
        shown = data.hex(" ") + (" ..." if len(frame.data) > len(data) else "")
    return shown


@dataclass(slots=True, frozen=True)
class Close:
    """The payload of a Close frame (RFC 6455 §5.5.1).

    Attributes:
        code: The close code; 1005 stands for an empty payload.
        reason: The close reason.
    """

    code: int
    reason: str = ""

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = _CLOSE_CODE_NAMES.get(self.code, "unknown")
        text = f"{self.code} ({explanation})"
        return f"{text} {self.reason}" if self.reason else text

    @classmethod
    def parse(cls, data: bytes) -> Close:
        """Parse and validate a Close frame payload.

        Raises:
            ProtocolError: The payload is one byte long or the code is not
                allowed on the wire.
            UnicodeDecodeError: The reason is not valid UTF-8.
        """
        if len(data) >= 2:
            (code,) = struct.unpack("!H", data[:2])
            close = cls(code, bytes(data[2:]).decode())
            close.check()
            return close
        if len(data) == 0:
            return cls(CloseCode.NO_STATUS_RCVD)
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """Build the payload of a Close frame; 1005 yields an empty payload."""
        if self.code == CloseCode.NO_STATUS_RCVD:
            return b""
        self.check()
        return struct.pack("!H", self.code) + self.reason.encode()

    def check(self) -> None:
        """Check that this code may be sent on the wire.

        Raises:
            ProtocolError: The code is reserved, unassigned or internal.
        """
        if not (self.code in CLOSE_CODES or 3000 <= self.code < 5000):
            raise ProtocolError(f"invalid status code: {self.code}")


def apply_mask_python(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 §5.3), in Python.

    The reference for the C accelerator, and the fallback where it isn't
    built. Both ways keep the loop in C. One XOR of two big integers is the
    fastest up to a few hundred KiB; beyond, converting to and from integers
    grows slower per byte than translating each of the four interleaved byte
    streams with a table (measured: 3.3 ms against 2.1 ms for 1 MiB).
    """
    length = len(data)
    if length == 0:
        return b""
    if length >= _TRANSLATE_THRESHOLD:
        return _translate_mask(data, mask)
    repeated = mask * ((length + 3) // 4)
    if len(repeated) != length:
        repeated = repeated[:length]
    masked = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
    return masked.to_bytes(length, "little")


_TRANSLATE_THRESHOLD = 256 * 1024
# _XOR_TABLES[k] maps every byte b to b ^ k.
_XOR_TABLES = [bytes(byte ^ key for byte in range(256)) for key in range(256)]


def _translate_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    source = bytes(data)
    masked = bytearray(source)
    for index in range(4):
        masked[index::4] = source[index::4].translate(_XOR_TABLES[mask[index]])
    return bytes(masked)


def _select_apply_mask() -> tuple[Callable[[bytes | bytearray | memoryview, bytes], bytes], bool]:
    """The C accelerator when it was built and not switched off, else Python."""
    module = accelerators.load("websockets_sync.sansio._mask")
    if module is None:
        return apply_mask_python, False
    apply_mask_c: Callable[[bytes | bytearray | memoryview, bytes], bytes] = module.apply_mask
    return apply_mask_c, True


#: XOR data with a 4-byte mask repeated (RFC 6455 §5.3): the C accelerator
#: (``websockets_sync.sansio._mask``, 20 to 70 times faster from 64 KiB) where the
#: install could compile it, otherwise :func:`apply_mask_python`.
#: ``ACCELERATED`` says which. Set ``WEBSOCKETS_SYNC_PURE_PYTHON=1`` before
#: the import to use the Python one anyway.
apply_mask, ACCELERATED = _select_apply_mask()


class _MaskKeys:
    """Masking keys from :func:`os.urandom`, drawn 4 KiB at a time.

    RFC 6455 §5.3 asks for keys from a strong source of entropy that the
    peer can't predict; reading the same source in bulk saves a system call
    per frame. ``deque.popleft`` and ``extend`` are atomic, so threads may
    share one instance.
    """

    def __init__(self) -> None:
        self._keys: deque[bytes] = deque()

    def next(self) -> bytes:
        try:
            return self._keys.popleft()
        except IndexError:
            pool = os.urandom(4096)
            self._keys.extend(pool[offset : offset + 4] for offset in range(4, 4096, 4))
            return pool[:4]


_mask_keys = _MaskKeys()


_HEADER_7 = struct.Struct("!BB")
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def serialize_frame(
    opcode: int,
    data: bytes | bytearray | memoryview,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool,
) -> bytes:
    """Build a frame ready for the wire: header, masking key, payload."""
    header, payload = frame_parts(opcode, data, fin=fin, rsv1=rsv1, mask=mask)
    return header + payload


def frame_parts(
    opcode: int,
    data: bytes | bytearray | memoryview,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool,
) -> tuple[bytes, bytes]:
    """Build a frame as two buffers: header with masking key, then payload.

    A gathering write (``sendmsg``) sends both at once, so a large payload is
    never copied just to put a few header bytes in front of it. Clients mask
    every frame with a fresh key drawn from :func:`os.urandom` (RFC 6455
    §5.3); servers never mask. The payload is always ``bytes``: a mutable
    buffer is copied, so that changing it after ``send`` changes nothing.
    """
    first = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    mask_bit = 0x80 if mask else 0
    length = len(data)
    if length < 126:
        header = _HEADER_7.pack(first, mask_bit | length)
    elif length < 65536:
        header = _HEADER_16.pack(first, mask_bit | 126, length)
    else:
        header = _HEADER_64.pack(first, mask_bit | 127, length)
    if mask:
        key = _mask_keys.next()
        return header + key, apply_mask(data, key)
    return header, data if type(data) is bytes else bytes(data)
