"""Raw WebSocket frames built and read byte by byte, independently of the library.

The tests of :mod:`websockets_sync.sansio.frames` and :mod:`websockets_sync.sansio.protocol`
use these helpers instead of the library's own serializer and parser, so that a bug in the
code under test cannot hide itself by being on both sides of an assertion.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KEY",
    "RawFrame",
    "build",
    "naive_mask",
    "parse_all",
]

#: A fixed masking key for frames that the tests send as a client.
KEY = b"\x37\xfa\x21\x3d"


def naive_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with ``key`` one byte at a time (RFC 6455 §5.3), as a reference."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(data))


def build(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
    width: int | None = None,
) -> bytes:
    """Build one frame (RFC 6455 §5.2) with any header bits.

    Args:
        opcode: The 4-bit opcode, reserved values included.
        payload: The unmasked payload.
        fin: The FIN bit.
        rsv: The RSV1-3 bits as a 3-bit number (4 is RSV1, 2 is RSV2, 1 is RSV3).
        mask: A 4-byte masking key, or ``None`` for an unmasked frame.
        length: The payload length announced in the header; ``len(payload)`` by default.
            Announcing more than the payload gives a header whose payload is still to come.
        width: 7, 16 or 64: how the length is encoded; the shortest form by default, so a
            larger width gives a non-minimal encoding.
    """
    assert 0 <= opcode <= 0xF and 0 <= rsv <= 7
    if length is None:
        length = len(payload)
    if width is None:
        width = 7 if length < 126 else 16 if length < 65536 else 64
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if width == 7:
        assert length < 126
        header = bytes([first, mask_bit | length])
    elif width == 16:
        header = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        assert width == 64
        header = bytes([first, mask_bit | 127]) + length.to_bytes(8, "big")
    if mask is None:
        return header + payload
    assert len(mask) == 4
    return header + mask + naive_mask(payload, mask)


@dataclass(frozen=True)
class RawFrame:
    """One frame as read from the wire by :func:`parse_all`."""

    fin: bool
    rsv: int
    opcode: int
    key: bytes | None
    payload: bytes
    #: The number of bytes that encoded the length: 0 (7-bit), 2 or 8.
    extended: int


def parse_all(data: bytes) -> list[RawFrame]:
    """Split ``data`` into frames; fail unless it holds whole frames only."""
    frames = []
    offset = 0
    while offset < len(data):
        assert len(data) - offset >= 2, "truncated header"
        first, second = data[offset], data[offset + 1]
        length = second & 0x7F
        offset += 2
        extended = {126: 2, 127: 8}.get(length, 0)
        if extended:
            length = int.from_bytes(data[offset : offset + extended], "big")
            offset += extended
        key = None
        if second & 0x80:
            key = data[offset : offset + 4]
            offset += 4
        payload = data[offset : offset + length]
        assert len(payload) == length, "truncated payload"
        offset += length
        if key is not None:
            payload = naive_mask(payload, key)
        frames.append(
            RawFrame(
                fin=bool(first & 0x80),
                rsv=(first >> 4) & 0x7,
                opcode=first & 0x0F,
                key=key,
                payload=payload,
                extended=extended,
            )
        )
    return frames
