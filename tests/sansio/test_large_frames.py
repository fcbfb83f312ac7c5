"""Tests for the large-payload paths of websockets_sync.sansio: frames written as
header and payload apart, and frames read into a buffer of their own size.

Both exist to save copies of large payloads; these tests check that they do
take effect and that every message still comes out byte for byte, whatever
way the bytes arrive.
"""

from __future__ import annotations

import os

import pytest

from websockets_sync.exceptions import PayloadTooBig, ProtocolError
from websockets_sync.sansio import frames
from websockets_sync.sansio import protocol as sansio_protocol
from websockets_sync.sansio.frames import Opcode, frame_parts, serialize_frame
from websockets_sync.sansio.protocol import Failure, Protocol, Side

from .framing import KEY, build, parse_all
from .test_protocol import incoming

LARGE = sansio_protocol._LARGE_FRAME
GATHER = sansio_protocol._GATHER_MIN


# Writing: header and payload apart.


@pytest.mark.parametrize("mask", [False, True])
def test_frame_parts_join_to_the_serialized_frame(
    monkeypatch: pytest.MonkeyPatch, mask: bool
) -> None:
    keys = iter([KEY, KEY])
    monkeypatch.setattr(frames._mask_keys, "next", lambda: next(keys))
    data = os.urandom(70_000)
    header, payload = frame_parts(Opcode.BINARY, data, mask=mask)
    assert header + payload == serialize_frame(Opcode.BINARY, data, mask=mask)
    assert len(header) == (14 if mask else 10)
    if not mask:
        assert payload is data, "an immutable payload is not copied"


def test_frame_parts_copy_a_mutable_payload() -> None:
    """The caller may reuse its buffer as soon as send() returns."""
    data = bytearray(b"x" * 100)
    _, payload = frame_parts(Opcode.BINARY, data, mask=False)
    data[:] = b"y" * 100
    assert payload == b"x" * 100
    assert type(payload) is bytes


def test_small_frames_are_one_buffer(side: Side) -> None:
    protocol = Protocol(side)
    protocol.send_binary(b"x" * (GATHER - 1))
    (chunk,) = protocol.data_to_send()
    (frame,) = parse_all(chunk)
    assert frame.payload == b"x" * (GATHER - 1)


def test_large_frames_are_header_and_payload(side: Side) -> None:
    protocol = Protocol(side)
    data = os.urandom(GATHER)
    protocol.send_binary(data)
    header, payload = protocol.data_to_send()
    assert len(payload) == GATHER
    (frame,) = parse_all(header + payload)
    assert frame.payload == data
    assert (frame.key is not None) is (side is Side.CLIENT)


def test_large_frames_keep_their_order_with_eof(side: Side) -> None:
    """A failure after a large frame: its EOF marker comes after both buffers."""
    protocol = Protocol(side)
    protocol.send_binary(b"a" * GATHER)
    protocol.fail(1011)
    output = protocol.data_to_send()
    assert len(output) == 4 and output[-1] == b""
    sent = parse_all(b"".join(output[:-1]))
    assert [getattr(item, "opcode", item) for item in sent] == [Opcode.BINARY, Opcode.CLOSE]


# Reading: a buffer of the frame's size.


def peer_frame(side: Side, payload: bytes, opcode: int = Opcode.BINARY, fin: bool = True) -> bytes:
    return incoming(side, opcode, payload, fin=fin)


def test_small_frames_have_no_receive_buffer(side: Side) -> None:
    protocol = Protocol(side)
    data = peer_frame(side, b"x" * (LARGE - 1))
    protocol.receive_data(data[:100])
    assert protocol.receive_buffer() is None
    protocol.receive_data(data[100:])
    assert protocol.events_received() == [b"x" * (LARGE - 1)]


def test_large_frame_is_read_into_its_buffer(side: Side) -> None:
    protocol = Protocol(side)
    payload = os.urandom(LARGE * 3)
    data = peer_frame(side, payload)
    head = 1000
    protocol.receive_data(data[:head])
    target = protocol.receive_buffer()
    assert target is not None
    remaining = data[head:]
    assert len(target) == len(remaining)
    # Read it in two steps, as recv_into would.
    target[:500] = remaining[:500]
    protocol.receive_buffered(500)
    assert protocol.events_received() == []
    rest = protocol.receive_buffer()
    assert rest is not None and len(rest) == len(remaining) - 500
    rest[:] = remaining[500:]
    protocol.receive_buffered(len(rest))
    assert protocol.events_received() == [payload]
    assert protocol.receive_buffer() is None


def test_large_frame_through_receive_data_in_any_split(side: Side) -> None:
    """Fed by receive_data, the frame buffer fills by copying, whatever the chunks."""
    protocol = Protocol(side)
    first = os.urandom(LARGE + 5)
    second = os.urandom(LARGE * 2)
    stream = peer_frame(side, first) + peer_frame(side, b"small") + peer_frame(side, second)
    events: list[object] = []
    for start in range(0, len(stream), 7_777):
        protocol.receive_data(stream[start : start + 7_777])
        events += protocol.events_received()
    assert events == [first, b"small", second]


def test_bytes_after_a_large_frame_are_parsed(side: Side) -> None:
    protocol = Protocol(side)
    payload = os.urandom(LARGE)
    data = peer_frame(side, payload)
    protocol.receive_data(data[:10])
    protocol.receive_data(data[10:] + peer_frame(side, b"next") + peer_frame(side, b"pa")[:3])
    assert protocol.events_received() == [payload, b"next"]
    protocol.receive_data(peer_frame(side, b"pa")[3:])
    assert protocol.events_received() == [b"pa"]


def test_large_text_frame_is_validated(side: Side) -> None:
    protocol = Protocol(side)
    data = peer_frame(side, b"\xff" * LARGE, Opcode.TEXT)
    protocol.receive_data(data[:100])
    target = protocol.receive_buffer()
    assert target is not None
    target[:] = data[100:]
    protocol.receive_buffered(len(target))
    (failure,) = protocol.events_received()
    assert isinstance(failure, Failure) and failure.code == 1007
    assert protocol.receive_buffer() is None


def test_large_fragments_count_towards_max_size(side: Side) -> None:
    protocol = Protocol(side, max_size=LARGE * 2)
    protocol.receive_data(peer_frame(side, b"a" * LARGE, fin=False))
    protocol.receive_data(peer_frame(side, b"b" * LARGE, Opcode.CONT, fin=False)[:50])
    assert protocol.receive_buffer() is not None
    protocol.receive_data(peer_frame(side, b"b" * LARGE, Opcode.CONT, fin=False)[50:])
    protocol.receive_data(peer_frame(side, b"c", Opcode.CONT)[:2])
    (failure,) = protocol.events_received()
    assert isinstance(failure, Failure) and failure.code == 1009
    assert isinstance(failure.exc, PayloadTooBig)


def test_oversized_frame_gets_no_buffer(side: Side) -> None:
    """The header is checked against max_size before any allocation."""
    protocol = Protocol(side, max_size=LARGE)
    protocol.receive_data(peer_frame(side, b"x" * (LARGE + 1))[:20])
    assert protocol.receive_buffer() is None
    (failure,) = protocol.events_received()
    assert isinstance(failure, Failure) and failure.code == 1009


def test_without_max_size_only_moderate_frames_get_a_buffer(side: Side) -> None:
    """A header can claim 2**63 - 1 bytes: that is never allocated up front."""
    protocol = Protocol(side, max_size=None)
    length = sansio_protocol._LARGE_FRAME_CAP + 1
    header = bytes([0x82, 127]) + length.to_bytes(8, "big")
    if side is Side.SERVER:
        header = bytes([0x82, 0xFF]) + length.to_bytes(8, "big") + KEY
    protocol.receive_data(header + b"x" * 100)
    assert protocol.receive_buffer() is None
    capped = Protocol(side, max_size=None)
    capped.receive_data(peer_frame(side, b"y" * LARGE)[:100])
    assert capped.receive_buffer() is not None


def test_masked_large_frame_needs_its_whole_key_first() -> None:
    protocol = Protocol(Side.SERVER)
    data = build(Opcode.BINARY, b"z" * LARGE, mask=KEY)
    protocol.receive_data(data[:12])  # header (10 bytes) and half the key
    assert protocol.receive_buffer() is None
    protocol.receive_data(data[12:20])
    assert protocol.receive_buffer() is not None
    protocol.receive_data(data[20:])
    assert protocol.events_received() == [b"z" * LARGE]


def test_failure_and_eof_drop_the_frame_buffer(side: Side) -> None:
    for stop in ("fail", "eof"):
        protocol = Protocol(side)
        protocol.receive_data(peer_frame(side, b"x" * LARGE)[:100])
        target = protocol.receive_buffer()
        assert target is not None
        if stop == "fail":
            protocol.receive_data(b"")  # nothing happens on an empty read
            protocol._stop_parsing(1002, "test", ProtocolError("test"))
            protocol.events_received()
        else:
            protocol.receive_eof()
        assert protocol.receive_buffer() is None
        # A read that was in flight is ignored.
        protocol.receive_buffered(len(target))
        assert protocol.events_received() == []
