"""Tests for websockets_sync.sansio.protocol: RFC 6455 §5-7 state machine, bytes in, events out.

Frames from the peer are built byte by byte by :mod:`.framing`, and frames written by the
protocol are read back by the same module, so these tests never trust the serializer under test.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from websockets_sync.defaults import MAX_SIZE
from websockets_sync.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from websockets_sync.sansio import frames
from websockets_sync.sansio.extensions.base import Extension
from websockets_sync.sansio.frames import Close, Frame, Opcode
from websockets_sync.sansio.protocol import Failure, Protocol, Side, State

from .framing import KEY, RawFrame, build, parse_all

CONT, TEXT, BINARY = Opcode.CONT, Opcode.TEXT, Opcode.BINARY
CLOSE, PING, PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG

LOGGER = "websockets_sync.protocol"

#: Marks the half-close (an empty bytes object) in what :func:`sent` returns.
EOF = "EOF"

VALID_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


# Helpers.


@pytest.fixture(params=[False, True], ids=["quiet", "debug"])
def debug(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> bool:
    """Run a test with frame logging off and on: they take different send paths."""
    caplog.set_level(logging.DEBUG if request.param else logging.INFO, logger=LOGGER)
    return request.param  # type: ignore[no-any-return]


def incoming(side: Side, opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """A frame as the peer of ``side`` sends it: masked towards a server (RFC 6455 §5.1)."""
    return build(opcode, payload, mask=KEY if side is Side.SERVER else None, **kwargs)


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def raw_sent(protocol: Protocol) -> list[RawFrame | str]:
    """Drain the output into raw frames, EOF standing for the half-close.

    A large frame comes as two buffers (header, payload): the bytes between
    EOF markers are joined before parsing.
    """
    items: list[RawFrame | str] = []
    pending = b""
    for chunk in protocol.data_to_send():
        if chunk == b"":
            items.extend(parse_all(pending))
            pending = b""
            items.append(EOF)
        else:
            pending += chunk
    items.extend(parse_all(pending))
    return items


def sent(protocol: Protocol) -> list[tuple[int, bytes, bool] | str]:
    """Drain the output into (opcode, payload, fin) tuples and EOF markers.

    It also checks RFC 6455 §5.1 on every frame: a client masks, a server doesn't,
    and the reserved bits are clear.
    """
    items: list[tuple[int, bytes, bool] | str] = []
    for item in raw_sent(protocol):
        if isinstance(item, str):
            items.append(item)
            continue
        assert (item.key is not None) is (protocol.side is Side.CLIENT), "wrong masking"
        assert item.rsv == 0
        items.append((item.opcode, item.payload, item.fin))
    return items


def failure_of(events: list[Any], code: int, exc_type: type[Exception], reason: str) -> list[Any]:
    """Check that the last event is a Failure as described; return the events before it."""
    *before, failure = events
    assert isinstance(failure, Failure), events
    assert failure.code == code
    assert isinstance(failure.exc, exc_type)
    assert reason in failure.reason
    assert not any(isinstance(event, Failure) for event in before)
    return before


def fails_with(
    protocol: Protocol, data: bytes, code: int, exc_type: type[Exception], reason: str
) -> None:
    """Feed ``data``, expect a Failure only, and check that parsing stopped."""
    protocol.receive_data(data)
    assert failure_of(protocol.events_received(), code, exc_type, reason) == []
    assert isinstance(protocol.parser_exc, exc_type)
    assert sent(protocol) == [], "a failure sends nothing until fail() is called"
    # Nothing is parsed after a failure, not even a valid frame.
    protocol.receive_data(incoming(protocol.side, TEXT, b"after"))
    assert protocol.events_received() == []


def protocol_error(protocol: Protocol, data: bytes, reason: str) -> None:
    fails_with(protocol, data, 1002, ProtocolError, reason)


class FixedKeys:
    """A stand-in for the pool of masking keys that hands out known keys."""

    def __init__(self, *keys: bytes) -> None:
        self.keys = list(keys)

    def next(self) -> bytes:
        return self.keys.pop(0)


# Masking (RFC 6455 §5.1, §5.3).


def test_server_fails_on_unmasked_frame() -> None:
    """§5.1: a server MUST close the connection upon receiving an unmasked frame."""
    protocol_error(Protocol(Side.SERVER), build(TEXT, b"hi"), "incorrect masking")


def test_client_fails_on_masked_frame() -> None:
    """§5.1: a client MUST close the connection if it detects a masked frame."""
    protocol_error(Protocol(Side.CLIENT), build(TEXT, b"hi", mask=KEY), "incorrect masking")


@pytest.mark.parametrize("opcode", [PING, CLOSE])
def test_masking_is_checked_on_control_frames(side: Side, opcode: Opcode) -> None:
    """§5.1: the masking rule applies to every frame, control frames included."""
    wrong = build(opcode, b"", mask=None if side is Side.SERVER else KEY)
    protocol_error(Protocol(side), wrong, "incorrect masking")


def test_masking_from_the_peer_is_accepted(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"hi"))
    assert protocol.events_received() == ["hi"]


def test_client_masks_every_frame_with_a_fresh_key(
    debug: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§5.3: every client frame is masked with a new key from os.urandom."""
    keys = [bytes([i, 0x10 + i, 0x20 + i, 0x30 + i]) for i in range(7)]
    monkeypatch.setattr(frames, "_mask_keys", FixedKeys(*keys))
    protocol = Protocol(Side.CLIENT)
    protocol.send_text(b"same")
    protocol.send_text(b"same")
    protocol.send_binary(b"\x00", fin=False)
    protocol.send_continuation(b"\x01", fin=True)
    protocol.send_ping(b"p")
    protocol.send_pong(b"q")
    protocol.send_close(1000)
    output = protocol.data_to_send()
    assert output[0] != output[1], "identical frames must differ on the wire"
    raw = [frame for chunk in output for frame in parse_all(chunk)]
    assert [frame.key for frame in raw] == keys
    assert [(frame.opcode, frame.payload) for frame in raw] == [
        (TEXT, b"same"),
        (TEXT, b"same"),
        (BINARY, b"\x00"),
        (CONT, b"\x01"),
        (PING, b"p"),
        (PONG, b"q"),
        (CLOSE, b"\x03\xe8"),
    ]


def test_client_frames_differ_with_the_real_entropy_source() -> None:
    """§5.3: two identical client sends produce different masking keys and bytes."""
    protocol = Protocol(Side.CLIENT)
    protocol.send_binary(b"same payload")
    protocol.send_binary(b"same payload")
    first, second = protocol.data_to_send()
    assert first != second
    assert parse_all(first)[0].key != parse_all(second)[0].key


def test_server_never_masks(debug: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """§5.1: a server MUST NOT mask any frames that it sends to the client."""
    monkeypatch.setattr(frames, "_mask_keys", FixedKeys())  # fails if called
    protocol = Protocol(Side.SERVER)
    protocol.send_text(b"t")
    protocol.send_binary(b"b")
    protocol.send_ping(b"p")
    protocol.send_pong(b"q")
    protocol.send_close(1000)
    assert protocol.data_to_send() == [
        b"\x81\x01t",
        b"\x82\x01b",
        b"\x89\x01p",
        b"\x8a\x01q",
        b"\x88\x02\x03\xe8",
    ]


# Payload length (RFC 6455 §5.2).


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 100_000])
def test_receive_payload_lengths(side: Side, length: int) -> None:
    """§5.2: 7-bit, 16-bit and 64-bit payload lengths, at their boundaries."""
    payload = bytes(i % 253 for i in range(length))
    protocol = Protocol(side, max_size=None)
    protocol.receive_data(incoming(side, BINARY, payload))
    assert protocol.events_received() == [payload]


@pytest.mark.parametrize(("width", "length"), [(16, 126), (16, 65535), (64, 65536)])
def test_smallest_extended_lengths_are_accepted(side: Side, width: int, length: int) -> None:
    """§5.2: 126 is the smallest 16-bit length, 65536 the smallest 64-bit length."""
    protocol = Protocol(side, max_size=None)
    protocol.receive_data(incoming(side, BINARY, bytes(length), width=width))
    assert protocol.events_received() == [bytes(length)]


@pytest.mark.parametrize(
    ("width", "length"),
    [(16, 0), (16, 1), (16, 125), (64, 0), (64, 125), (64, 126), (64, 65535)],
)
def test_non_minimal_length_is_a_protocol_error(side: Side, width: int, length: int) -> None:
    """§5.2: the minimal number of bytes MUST be used to encode the length."""
    data = incoming(side, BINARY, bytes(length), width=width)
    protocol_error(Protocol(side), data, "not minimally encoded")


@pytest.mark.parametrize("length", [2**63, 2**64 - 1])
def test_64_bit_length_with_msb_set_is_a_protocol_error(side: Side, length: int) -> None:
    """§5.2: the most significant bit of a 64-bit length MUST be 0 (header only is enough)."""
    header = build(BINARY, b"", length=length, width=64)  # unmasked: no key needed
    if side is Side.SERVER:
        header = header[:1] + bytes([header[1] | 0x80]) + header[2:]
    protocol_error(Protocol(side, max_size=None), header, "most significant bit")


# Reserved bits and opcodes (RFC 6455 §5.2).


@pytest.mark.parametrize("rsv", range(1, 8))
@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, CLOSE])
def test_reserved_bits_without_extension_are_a_protocol_error(
    side: Side, rsv: int, opcode: Opcode
) -> None:
    """§5.2: RSV1-3 MUST be 0 unless an extension defines them."""
    protocol_error(Protocol(side), incoming(side, opcode, b"", rsv=rsv), "reserved bits")


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_a_protocol_error(side: Side, opcode: int) -> None:
    """§5.2: an unknown opcode MUST fail the connection."""
    protocol_error(Protocol(side), incoming(side, opcode, b"x"), f"invalid opcode: {opcode:#x}")


# Control frames (RFC 6455 §5.5).


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
@pytest.mark.parametrize(("width", "length"), [(16, 126), (16, 65535), (64, 65536)])
def test_control_frame_longer_than_125_is_a_protocol_error(
    side: Side, opcode: Opcode, width: int, length: int
) -> None:
    """§5.5: control frames MUST have a payload of 125 bytes or less (checked on the header)."""
    header = incoming(side, opcode, b"", length=length, width=width)
    protocol_error(Protocol(side, max_size=None), header, "control frame too long")


def test_control_frame_of_125_bytes_is_accepted(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, PING, b"p" * 125))
    assert protocol.events_received() == [Frame(PING, b"p" * 125)]
    assert sent(protocol) == [(PONG, b"p" * 125, True)]


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_fragmented_control_frame_is_a_protocol_error(side: Side, opcode: Opcode) -> None:
    """§5.5: control frames MUST NOT be fragmented."""
    protocol_error(Protocol(side), incoming(side, opcode, b"", fin=False), "fragmented control")


# Fragmentation (RFC 6455 §5.4).


@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_a_message_is_a_protocol_error(side: Side, fin: bool) -> None:
    """§5.4: a continuation frame only continues a started message."""
    protocol_error(Protocol(side), incoming(side, CONT, b"x", fin=fin), "unexpected continuation")


def test_continuation_after_a_finished_message_is_a_protocol_error(side: Side) -> None:
    """§5.4: a message ends with its FIN frame; a further continuation frame is unexpected."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"a", fin=False) + incoming(side, CONT, b"b"))
    assert protocol.events_received() == ["ab"]
    protocol_error(protocol, incoming(side, CONT, b"c"), "unexpected continuation")


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
@pytest.mark.parametrize("fin", [True, False])
def test_new_message_inside_a_fragmented_one_is_a_protocol_error(
    side: Side, opcode: Opcode, fin: bool
) -> None:
    """§5.4: fragments of one message MUST NOT be interleaved with another message."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"a", fin=False))
    assert protocol.events_received() == []
    protocol_error(protocol, incoming(side, opcode, b"b", fin=fin), "expected a continuation")


def test_fragmented_text_message_is_delivered_whole(side: Side) -> None:
    """§5.4: the fragments' payloads, concatenated, are the message."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"Hel", fin=False))
    protocol.receive_data(incoming(side, CONT, b"lo ", fin=False))
    assert protocol.events_received() == [], "no event before the last fragment"
    protocol.receive_data(incoming(side, CONT, b"world"))
    assert protocol.events_received() == ["Hello world"]


def test_fragmented_binary_message_is_delivered_whole(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, BINARY, b"\x00\x01", fin=False) + incoming(side, CONT, b"\x02")
    )
    events = protocol.events_received()
    assert events == [b"\x00\x01\x02"]
    assert type(events[0]) is bytes


def test_control_frames_inside_a_fragmented_message(side: Side) -> None:
    """§5.4: control frames MAY be injected between fragments; they are handled at once."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"Hel", fin=False))
    protocol.receive_data(incoming(side, PING, b"p1"))
    assert protocol.events_received() == [Frame(PING, b"p1")]
    assert sent(protocol) == [(PONG, b"p1", True)], "the pong does not wait for the message"
    protocol.receive_data(incoming(side, CONT, b"lo", fin=False) + incoming(side, PONG, b"p2"))
    assert protocol.events_received() == [Frame(PONG, b"p2")]
    protocol.receive_data(incoming(side, CONT, b"!"))
    assert protocol.events_received() == ["Hello!"]


@pytest.mark.parametrize(("opcode", "message"), [(TEXT, ""), (BINARY, b"")])
def test_empty_fragments(side: Side, opcode: Opcode, message: str | bytes) -> None:
    """§5.4: fragments may be empty, the first and the last included."""
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, opcode, b"", fin=False)
        + incoming(side, CONT, b"", fin=False)
        + incoming(side, CONT, b"")
    )
    events = protocol.events_received()
    assert events == [message]
    assert type(events[0]) is type(message)


def test_empty_single_frame_messages(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT) + incoming(side, BINARY))
    assert protocol.events_received() == ["", b""]


def test_fragmented_messages_follow_each_other(side: Side) -> None:
    """After a fragmented message ends, a new one may start."""
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, BINARY, b"a", fin=False)
        + incoming(side, CONT, b"b")
        + incoming(side, TEXT, b"c", fin=False)
        + incoming(side, CONT, b"d")
        + incoming(side, TEXT, b"e")
    )
    assert protocol.events_received() == [b"ab", "cd", "e"]


# Streaming: frames split and batched arbitrarily.


def stream(side: Side) -> bytes:
    """A stream with every kind of frame and every length encoding."""
    return b"".join(
        [
            incoming(side, TEXT, "h\u00e9".encode(), fin=False),
            incoming(side, PING, b"ping"),
            incoming(side, CONT, "llo \u20ac\U0001f600".encode()[:-2], fin=False),
            incoming(side, CONT, "\U0001f600".encode()[2:]),
            incoming(side, BINARY, bytes(range(256)) * 2),
            incoming(side, PONG, b""),
            incoming(side, BINARY, b"\xff" * 70_000),
            incoming(side, TEXT, b""),
            incoming(side, CLOSE, close_payload(1000, "done")),
        ]
    )


STREAM_EVENTS = [
    Frame(PING, b"ping"),
    "h\u00e9llo \u20ac\U0001f600",
    bytes(range(256)) * 2,
    Frame(PONG, b""),
    b"\xff" * 70_000,
    "",
    Frame(CLOSE, close_payload(1000, "done")),
]


def test_several_frames_in_one_feed(side: Side) -> None:
    """Every frame of one feed comes out, in stream order."""
    protocol = Protocol(side)
    protocol.receive_data(stream(side))
    assert protocol.events_received() == STREAM_EVENTS
    reply = [(PONG, b"ping", True), (CLOSE, close_payload(1000, "done"), True)]
    assert sent(protocol) == reply + ([EOF] if side is Side.SERVER else [])


def test_one_byte_at_a_time(side: Side) -> None:
    """Any split of the stream gives the same events and output as a single feed."""
    protocol = Protocol(side)
    events: list[Any] = []
    output: list[Any] = []
    for byte in stream(side):
        protocol.receive_data(bytes([byte]))
        events.extend(protocol.events_received())
        output.extend(sent(protocol))
    assert events == STREAM_EVENTS
    reply = [(PONG, b"ping", True), (CLOSE, close_payload(1000, "done"), True)]
    assert output == reply + ([EOF] if side is Side.SERVER else [])


def test_event_comes_with_the_last_byte_of_its_frame(side: Side) -> None:
    frame = incoming(side, BINARY, b"x" * 300)
    protocol = Protocol(side)
    protocol.receive_data(frame[:-1])
    assert protocol.events_received() == []
    protocol.receive_data(frame[-1:])
    assert protocol.events_received() == [b"x" * 300]


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_receive_data_accepts_bytes_like(side: Side, kind: type) -> None:
    protocol = Protocol(side)
    protocol.receive_data(kind(incoming(side, TEXT, b"ok")))
    assert protocol.events_received() == ["ok"]


# Messages and UTF-8 (RFC 6455 §5.6, §8.1).


def test_text_is_str_and_binary_is_bytes(side: Side) -> None:
    """§5.6: text frames carry UTF-8 text, delivered as str; binary frames as bytes."""
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, TEXT, "caf\u00e9".encode()) + incoming(side, BINARY, b"caf")
    )
    text, binary = protocol.events_received()
    assert type(text) is str and text == "caf\u00e9"
    assert type(binary) is bytes and binary == b"caf"


INVALID_UTF8 = {
    "surrogate": b"\xed\xa0\x80",
    "overlong-2": b"\xc0\x80",
    "overlong-3": b"\xe0\x80\x80",
    "overlong-4": b"\xf0\x80\x80\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "f5": b"\xf5\x80\x80\x80",
    "lone-continuation": b"\x80",
    "ff": b"\xff",
    "truncated": b"\xe2\x82",
}

VALID_UTF8 = {
    "ascii": b"abc",
    "nul": b"\x00",
    "d7ff": b"\xed\x9f\xbf",
    "e000": b"\xee\x80\x80",
    "fffd": b"\xef\xbf\xbd",
    "ffff": b"\xef\xbf\xbf",
    "10000": b"\xf0\x90\x80\x80",
    "10ffff": b"\xf4\x8f\xbf\xbf",
}


@pytest.mark.parametrize("data", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_in_a_text_frame_fails_with_1007(side: Side, data: bytes) -> None:
    """§8.1: invalid UTF-8 in a text message MUST fail the connection (1007, §7.4.1)."""
    fails_with(Protocol(side), incoming(side, TEXT, b"ok " + data), 1007, UnicodeDecodeError, "")


@pytest.mark.parametrize("data", VALID_UTF8.values(), ids=VALID_UTF8.keys())
def test_valid_utf8_edge_cases_are_accepted(side: Side, data: bytes) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, data))
    assert protocol.events_received() == [data.decode()]


def test_1007_reason_says_where(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"abc\xff"))
    failure_of(
        protocol.events_received(), 1007, UnicodeDecodeError, "invalid start byte at position 3"
    )


@pytest.mark.parametrize(
    "data",
    [v for k, v in INVALID_UTF8.items() if k != "truncated"],
    ids=[k for k in INVALID_UTF8 if k != "truncated"],
)
def test_invalid_utf8_fails_at_the_fragment_holding_it(side: Side, data: bytes) -> None:
    """§8.1 (and §5.6): fail fast, without waiting for the rest of the message."""
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, TEXT, b"whole")
        + incoming(side, TEXT, b"valid ", fin=False)
        + incoming(side, PING, b"p")
    )
    assert protocol.events_received() == ["whole", Frame(PING, b"p")]
    protocol.receive_data(incoming(side, CONT, data + b" more", fin=False))
    failure_of(protocol.events_received(), 1007, UnicodeDecodeError, "")
    protocol.receive_data(incoming(side, CONT, b"end"))
    assert protocol.events_received() == []


def test_invalid_utf8_spanning_fragments_fails_at_the_second(side: Side) -> None:
    """The first fragment ends with a valid lead byte; the next byte makes it invalid."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"a\xf4", fin=False))
    assert protocol.events_received() == []
    protocol.receive_data(incoming(side, CONT, b"\x90\x80\x80", fin=False))
    failure_of(protocol.events_received(), 1007, UnicodeDecodeError, "")


def test_truncated_utf8_at_the_end_of_a_fragmented_message(side: Side) -> None:
    """A character left incomplete by the final fragment is invalid."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"a", fin=False))
    protocol.receive_data(incoming(side, CONT, b"\xe2\x82"))
    failure_of(protocol.events_received(), 1007, UnicodeDecodeError, "")


MULTIBYTE = "\u00e9\u20ac\U0001f600".encode()  # 2, 3 and 4 bytes


@pytest.mark.parametrize("cut", range(1, len(MULTIBYTE)))
def test_character_split_across_fragments_is_valid(side: Side, cut: int) -> None:
    """§5.6: only the whole message must be valid UTF-8, not each fragment."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, MULTIBYTE[:cut], fin=False))
    protocol.receive_data(incoming(side, CONT, MULTIBYTE[cut:]))
    assert protocol.events_received() == [MULTIBYTE.decode()]


def test_character_split_over_three_fragments_is_valid(side: Side) -> None:
    protocol = Protocol(side)
    data = "\U0001f600".encode()
    protocol.receive_data(
        incoming(side, TEXT, data[:1], fin=False)
        + incoming(side, CONT, data[1:2], fin=False)
        + incoming(side, CONT, b"", fin=False)
        + incoming(side, CONT, data[2:])
    )
    assert protocol.events_received() == ["\U0001f600"]


@pytest.mark.parametrize("data", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_binary_messages_are_never_validated(side: Side, data: bytes) -> None:
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, BINARY, data)
        + incoming(side, BINARY, data[:1], fin=False)
        + incoming(side, CONT, data[1:])
    )
    assert protocol.events_received() == [data, data]


# max_size (RFC 6455 §10.4).


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
@pytest.mark.parametrize(("max_size", "width"), [(100, 7), (1000, 16), (70_000, 64)])
def test_frame_header_over_max_size_fails_with_1009(
    side: Side, opcode: Opcode, max_size: int, width: int
) -> None:
    """§10.4, §7.4.1: fail with 1009 from the header alone, before the payload arrives."""
    header = incoming(side, opcode, b"", length=max_size + 1, width=width)
    fails_with(Protocol(side, max_size=max_size), header, 1009, PayloadTooBig, "exceeds limit")


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_message_of_exactly_max_size_is_accepted(side: Side, opcode: Opcode) -> None:
    protocol = Protocol(side, max_size=1000)
    protocol.receive_data(incoming(side, opcode, b"x" * 1000))
    assert protocol.events_received() == [b"x" * 1000 if opcode is BINARY else "x" * 1000]


def test_default_max_size_is_one_mebibyte(side: Side) -> None:
    assert MAX_SIZE == 2**20
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, BINARY, b"", length=2**20))
    assert protocol.events_received() == [], "the header of 1 MiB is accepted"
    fails_with(
        Protocol(side), incoming(side, BINARY, b"", length=2**20 + 1), 1009, PayloadTooBig, ""
    )


def test_fragmented_message_over_max_size_fails_at_the_crossing_fragment(side: Side) -> None:
    """The limit is on the message: the fragment whose header crosses it fails with 1009."""
    protocol = Protocol(side, max_size=10)
    protocol.receive_data(incoming(side, BINARY, b"a" * 4, fin=False))
    protocol.receive_data(incoming(side, CONT, b"b" * 4, fin=False))
    assert protocol.events_received() == []
    header_only = incoming(side, CONT, b"", length=3)
    fails_with(protocol, header_only, 1009, PayloadTooBig, "after 8 bytes exceeds limit of 10")


def test_fragmented_message_of_exactly_max_size_is_accepted(side: Side) -> None:
    protocol = Protocol(side, max_size=10)
    protocol.receive_data(
        incoming(side, TEXT, b"a" * 4, fin=False)
        + incoming(side, CONT, b"b" * 4, fin=False)
        + incoming(side, CONT, b"c" * 2)
        # The count starts again with the next message.
        + incoming(side, BINARY, b"d" * 10)
    )
    assert protocol.events_received() == ["aaaabbbbcc", b"d" * 10]


def test_max_size_none_accepts_large_messages(side: Side) -> None:
    payload = b"z" * (2**20 + 1)
    protocol = Protocol(side, max_size=None)
    protocol.receive_data(
        incoming(side, BINARY, payload) + incoming(side, BINARY, payload, fin=False)
    )
    protocol.receive_data(incoming(side, CONT, payload))
    assert protocol.events_received() == [payload, payload * 2]


def test_max_size_does_not_apply_to_control_frames(side: Side) -> None:
    """Control frames are bounded by §5.5 (125 bytes), not by the message limit."""
    protocol = Protocol(side, max_size=1)
    protocol.receive_data(incoming(side, PING, b"0123456789"))
    assert protocol.events_received() == [Frame(PING, b"0123456789")]


# Ping and Pong (RFC 6455 §5.5.2, §5.5.3).


def test_server_answers_ping_with_pong() -> None:
    """§5.5.2: a Ping MUST be answered by a Pong with identical application data."""
    protocol = Protocol(Side.SERVER)
    protocol.receive_data(incoming(Side.SERVER, PING, b"hello"))
    assert protocol.events_received() == [Frame(PING, b"hello")]
    assert protocol.data_to_send() == [b"\x8a\x05hello"]


def test_client_answers_ping_with_masked_pong(monkeypatch: pytest.MonkeyPatch) -> None:
    """§5.5.2 and §5.3: the client's Pong is masked like every client frame."""
    monkeypatch.setattr(frames, "_mask_keys", FixedKeys(KEY))
    protocol = Protocol(Side.CLIENT)
    protocol.receive_data(incoming(Side.CLIENT, PING, b"hello"))
    assert protocol.events_received() == [Frame(PING, b"hello")]
    masked = bytes(b ^ KEY[i % 4] for i, b in enumerate(b"hello"))
    assert protocol.data_to_send() == [b"\x8a\x85" + KEY + masked]


def test_empty_ping_gets_an_empty_pong(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, PING))
    assert protocol.events_received() == [Frame(PING, b"")]
    assert sent(protocol) == [(PONG, b"", True)]


def test_each_ping_gets_its_own_pong(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, PING, b"1") + incoming(side, PING, b"2"))
    assert sent(protocol) == [(PONG, b"1", True), (PONG, b"2", True)]


def test_no_pong_after_sending_close(side: Side) -> None:
    """§5.5.1: after sending a Close frame, an endpoint sends nothing more, not even a Pong."""
    protocol = Protocol(side)
    protocol.send_close()
    protocol.data_to_send()
    protocol.receive_data(incoming(side, PING, b"late"))
    assert protocol.events_received() == [Frame(PING, b"late")]
    assert sent(protocol) == []


def test_pong_is_delivered_and_not_answered(side: Side) -> None:
    """§5.5.3: a Pong (solicited or not) is delivered; it needs no response."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, PONG, b"beat"))
    assert protocol.events_received() == [Frame(PONG, b"beat")]
    assert sent(protocol) == []


def test_ping_before_close_in_one_feed(side: Side) -> None:
    """The Pong to a Ping that precedes a Close goes out before the Close reply."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, PING, b"p") + incoming(side, CLOSE, close_payload(1000)))
    assert protocol.events_received() == [Frame(PING, b"p"), Frame(CLOSE, b"\x03\xe8")]
    assert sent(protocol)[:2] == [(PONG, b"p", True), (CLOSE, b"\x03\xe8", True)]


# Close frame payloads (RFC 6455 §5.5.1, §7.4).


def test_empty_close_reports_1005_and_gets_an_empty_reply(side: Side) -> None:
    """§7.1.5: no status code means 1005; the reply echoes no code either."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, CLOSE))
    assert protocol.events_received() == [Frame(CLOSE, b"")]
    assert protocol.close_rcvd == Close(1005, "")
    assert sent(protocol) == [(CLOSE, b"", True)] + ([EOF] if side is Side.SERVER else [])
    protocol.receive_eof()
    assert (protocol.close_code, protocol.close_reason) == (1005, "")
    assert isinstance(protocol.close_exc, ConnectionClosedOK)


def test_exact_empty_close_reply_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    server = Protocol(Side.SERVER)
    server.receive_data(incoming(Side.SERVER, CLOSE))
    assert server.data_to_send() == [b"\x88\x00", b""]
    monkeypatch.setattr(frames, "_mask_keys", FixedKeys(KEY))
    client = Protocol(Side.CLIENT)
    client.receive_data(incoming(Side.CLIENT, CLOSE))
    assert client.data_to_send() == [b"\x88\x80" + KEY]


def test_one_byte_close_payload_is_a_protocol_error(side: Side) -> None:
    """§5.5.1: a Close body starts with a 2-byte status code."""
    protocol_error(Protocol(side), incoming(side, CLOSE, b"\x03"), "close frame too short")


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_close_codes_are_accepted_and_echoed(side: Side, code: int) -> None:
    """§7.4.1, §7.4.2: registered codes and 3000-4999 are valid; the reply echoes the code."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, CLOSE, close_payload(code, "why")))
    assert protocol.events_received() == [Frame(CLOSE, close_payload(code, "why"))]
    assert protocol.close_rcvd == Close(code, "why")
    reply, *eof = sent(protocol)
    assert isinstance(reply, tuple)
    assert reply[0] == CLOSE
    assert reply[1][:2] == code.to_bytes(2, "big")
    assert eof == ([EOF] if side is Side.SERVER else [])


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_close_codes_are_a_protocol_error(side: Side, code: int) -> None:
    """§7.4: reserved, unassigned and local-only codes in a Close frame fail with 1002."""
    protocol = Protocol(side)
    protocol_error(protocol, incoming(side, CLOSE, close_payload(code)), "invalid status code")
    assert protocol.close_rcvd is None


@pytest.mark.parametrize("reason", [b"\xff", b"\xed\xa0\x80", b"ok\xc3"])
def test_invalid_utf8_close_reason_fails_with_1007(side: Side, reason: bytes) -> None:
    """§5.5.1: the close reason is UTF-8; §8.1: invalid UTF-8 fails with 1007."""
    protocol = Protocol(side)
    fails_with(protocol, incoming(side, CLOSE, b"\x03\xe8" + reason), 1007, UnicodeDecodeError, "")
    assert protocol.close_rcvd is None


def test_longest_close_reason_is_accepted(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, CLOSE, close_payload(1000, "r" * 123)))
    assert protocol.close_rcvd == Close(1000, "r" * 123)


# The closing handshake (RFC 6455 §5.5.1, §7.1).


def test_peer_initiated_close(side: Side) -> None:
    """§5.5.1: answer a Close with a Close; §7.1.1: the server then closes TCP, the client not."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, CLOSE, close_payload(1000, "bye")))
    assert protocol.events_received() == [Frame(CLOSE, close_payload(1000, "bye"))]
    output = sent(protocol)
    assert output[0] == (CLOSE, close_payload(1000, "bye"), True)
    assert output[1:] == ([EOF] if side is Side.SERVER else [])
    assert protocol.state is State.CLOSING
    assert protocol.close_rcvd == Close(1000, "bye")
    assert protocol.close_sent is not None and protocol.close_sent.code == 1000
    assert protocol.close_rcvd_then_sent is True
    assert (protocol.close_code, protocol.close_reason) == (None, None), "not closed yet"
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert (protocol.close_code, protocol.close_reason) == (1000, "bye")
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedOK
    assert (exc.code, exc.reason, exc.rcvd_then_sent) == (1000, "bye", True)
    assert str(exc).startswith("received 1000 (OK) bye; then sent 1000 (OK)")


def test_locally_initiated_close(side: Side) -> None:
    """§7.1.2: send a Close, wait for the peer's; §7.1.1: then the server closes TCP."""
    protocol = Protocol(side)
    protocol.send_close(1001, "away")
    assert protocol.state is State.CLOSING
    assert protocol.close_sent == Close(1001, "away")
    assert sent(protocol) == [(CLOSE, close_payload(1001, "away"), True)], "no EOF yet"
    protocol.receive_data(incoming(side, CLOSE, close_payload(1000)))
    assert protocol.events_received() == [Frame(CLOSE, close_payload(1000))]
    assert sent(protocol) == ([EOF] if side is Side.SERVER else []), "no second Close"
    assert protocol.close_rcvd == Close(1000)
    assert protocol.close_rcvd_then_sent is False
    assert protocol.state is State.CLOSING
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert (protocol.close_code, protocol.close_reason) == (1000, "")
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedOK
    assert exc.rcvd_then_sent is False
    assert str(exc) == "sent 1001 (going away) away; then received 1000 (OK)"


def test_close_exceptions_survive_pickling(side: Side) -> None:
    """Their arguments are the frames, so a copy (another process, say) says the same."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, CLOSE, close_payload(1000, "bye")))
    protocol.receive_eof()
    exc = protocol.close_exc
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is ConnectionClosedOK
    assert (copy.rcvd, copy.sent, copy.rcvd_then_sent) == (exc.rcvd, exc.sent, True)
    assert str(copy) == str(exc) == "received 1000 (OK) bye; then sent 1000 (OK) bye"


def test_data_is_still_received_after_sending_close(side: Side) -> None:
    """§7.1.2: after sending a Close, an endpoint goes on reading until the peer's Close."""
    protocol = Protocol(side)
    protocol.send_close()
    protocol.receive_data(incoming(side, TEXT, b"late") + incoming(side, BINARY, b"too"))
    assert protocol.events_received() == ["late", b"too"]


def test_eof_without_close_is_abnormal(side: Side) -> None:
    """§7.1.5: a connection closed without a Close frame has code 1006."""
    protocol = Protocol(side)
    assert protocol.close_code is None
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.eof_received is True
    assert (protocol.close_code, protocol.close_reason) == (1006, "")
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert (exc.code, exc.rcvd, exc.sent) == (1006, None, None)
    assert str(exc) == "no close frame received or sent"


def test_eof_discards_incomplete_frames_and_later_data(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"cut")[:-1])
    protocol.receive_eof()
    protocol.receive_data(incoming(side, TEXT, b"late"))
    assert protocol.events_received() == []


def test_eof_after_sending_close_without_reply(side: Side) -> None:
    protocol = Protocol(side)
    protocol.send_close(1000)
    protocol.receive_eof()
    assert protocol.close_code == 1006
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert str(exc) == "sent 1000 (OK); no close frame received"


def sent_first(code: int | None) -> Callable[[Protocol], None]:
    return lambda protocol: protocol.send_close(code) if code is not None else None


@pytest.mark.parametrize(
    ("local", "remote", "expected"),
    [
        (None, close_payload(1000), ConnectionClosedOK),
        (None, close_payload(1001), ConnectionClosedOK),
        (None, b"", ConnectionClosedOK),
        (None, close_payload(1002), ConnectionClosedError),
        (None, close_payload(1011), ConnectionClosedError),
        (None, close_payload(3000), ConnectionClosedError),
        (None, close_payload(4000), ConnectionClosedError),
        (1000, close_payload(1000), ConnectionClosedOK),
        (1001, close_payload(1000), ConnectionClosedOK),
        (1000, b"", ConnectionClosedOK),
        (1005, b"", ConnectionClosedOK),
        (1000, close_payload(4000), ConnectionClosedError),
        (4000, close_payload(1000), ConnectionClosedError),
        (1011, close_payload(1011), ConnectionClosedError),
    ],
)
def test_close_exc_type(
    side: Side, local: int | None, remote: bytes, expected: type[Exception]
) -> None:
    """OK when both Close frames carry 1000, 1001 or no code (1005); an error otherwise."""
    protocol = Protocol(side)
    if local is not None:
        protocol.send_close(local)
    protocol.receive_data(incoming(side, CLOSE, remote))
    protocol.receive_eof()
    exc = protocol.close_exc
    assert type(exc) is expected
    assert exc.rcvd == protocol.close_rcvd
    assert exc.sent == protocol.close_sent
    assert exc.__cause__ is None


def test_bytes_after_close_are_ignored(side: Side) -> None:
    """§5.5.1: after the Close frame, the peer sends no more data; anything else is dropped."""
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, CLOSE, close_payload(1000))
        + incoming(side, TEXT, b"ignored")
        + b"\xff\xff garbage that would fail"
    )
    assert protocol.events_received() == [Frame(CLOSE, close_payload(1000))]
    protocol.receive_data(incoming(side, PING, b"ignored too"))
    assert protocol.events_received() == []
    assert protocol.parser_exc is None


def test_close_inside_a_fragmented_message(side: Side) -> None:
    """§5.4, §5.5.1: a Close between fragments is a normal close; the message is dropped."""
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, TEXT, b"incompl", fin=False) + incoming(side, CLOSE, close_payload(1001))
    )
    assert protocol.events_received() == [Frame(CLOSE, close_payload(1001))]
    assert sent(protocol)[0] == (CLOSE, close_payload(1001), True)
    protocol.receive_eof()
    assert type(protocol.close_exc) is ConnectionClosedOK


def close_locally(protocol: Protocol) -> None:
    protocol.send_close()


def close_remotely(protocol: Protocol) -> None:
    protocol.receive_data(incoming(protocol.side, CLOSE, close_payload(1000)))


def close_by_eof(protocol: Protocol) -> None:
    protocol.receive_eof()


def close_by_failing(protocol: Protocol) -> None:
    protocol.fail(1011)


SENDS: dict[str, Callable[[Protocol], None]] = {
    "text": lambda protocol: protocol.send_text(b"x"),
    "binary": lambda protocol: protocol.send_binary(b"x"),
    "continuation": lambda protocol: protocol.send_continuation(b"x", fin=True),
    "ping": lambda protocol: protocol.send_ping(b""),
    "pong": lambda protocol: protocol.send_pong(b""),
    "close": lambda protocol: protocol.send_close(),
}


@pytest.mark.parametrize("closing", [close_locally, close_remotely, close_by_eof, close_by_failing])
@pytest.mark.parametrize("send", SENDS.values(), ids=SENDS.keys())
def test_sending_after_close_raises_invalid_state(
    side: Side, closing: Callable[[Protocol], None], send: Callable[[Protocol], None]
) -> None:
    """§5.5.1: after sending a Close frame, an endpoint MUST NOT send more data frames."""
    protocol = Protocol(side)
    closing(protocol)
    protocol.data_to_send()
    with pytest.raises(InvalidState, match="connection is clos"):
        send(protocol)
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("code", [c for c in INVALID_CODES if c != 1005])
def test_send_close_with_an_invalid_code_raises(side: Side, code: int) -> None:
    """§7.4.1: 1004, 1006, 1015 and unassigned codes MUST NOT be sent; nothing changes."""
    protocol = Protocol(side)
    with pytest.raises(ProtocolError, match="invalid status code"):
        protocol.send_close(code)
    assert protocol.state is State.OPEN
    assert protocol.close_sent is None
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("code", VALID_CODES)
def test_send_close_with_a_valid_code(side: Side, code: int) -> None:
    protocol = Protocol(side)
    protocol.send_close(code, "r")
    assert sent(protocol) == [(CLOSE, close_payload(code, "r"), True)]


def test_send_close_1005_sends_an_empty_close(side: Side) -> None:
    """§7.4.1: 1005 never goes on the wire; asking for it sends a Close without a body."""
    protocol = Protocol(side)
    protocol.send_close(1005)
    assert sent(protocol) == [(CLOSE, b"", True)]


@pytest.mark.parametrize("reason", ["r" * 124, "\u00e9" * 62, "r" * 1000])
def test_send_close_with_a_too_long_reason_raises(side: Side, reason: str) -> None:
    """§5.5: a Close payload is at most 125 bytes, so the reason at most 123 bytes of UTF-8."""
    protocol = Protocol(side)
    with pytest.raises(ProtocolError, match="longer than 123 bytes"):
        protocol.send_close(1000, reason)
    assert protocol.state is State.OPEN
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("reason", ["r" * 123, "\u00e9" * 61 + "r"])
def test_send_close_with_the_longest_reason(side: Side, reason: str) -> None:
    protocol = Protocol(side)
    protocol.send_close(1000, reason)
    assert sent(protocol) == [(CLOSE, close_payload(1000, reason), True)]


# Failures (RFC 6455 §7.1.7).


def test_failure_comes_after_the_events_before_the_bad_bytes(side: Side) -> None:
    """Messages that arrived before a protocol error are delivered first, in order."""
    protocol = Protocol(side)
    protocol.receive_data(
        incoming(side, TEXT, b"first")
        + incoming(side, PING, b"p")
        + incoming(side, BINARY, b"second")
        + incoming(side, TEXT, b"bad", rsv=2)
        + incoming(side, TEXT, b"never parsed")
    )
    events = protocol.events_received()
    before = failure_of(events, 1002, ProtocolError, "reserved bits must be 0")
    assert before == ["first", Frame(PING, b"p"), b"second"]
    assert events[-1].exc is protocol.parser_exc
    assert sent(protocol) == [(PONG, b"p", True)], "the ping before the error is answered"
    assert protocol.state is State.OPEN, "the I/O layer decides when to call fail()"
    protocol.receive_data(incoming(side, TEXT, b"later"))
    assert protocol.events_received() == []


def test_failure_then_fail(side: Side) -> None:
    """§7.1.7: to fail the connection, send a Close with the failure's code, then close TCP."""
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, 0x3))
    (failure,) = protocol.events_received()
    protocol.fail(failure.code, failure.reason)
    assert sent(protocol) == [(CLOSE, close_payload(1002, "invalid opcode: 0x3"), True), EOF]
    assert protocol.close_sent == Close(1002, "invalid opcode: 0x3")
    protocol.receive_eof()
    assert protocol.close_code == 1006
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert exc.__cause__ is failure.exc
    assert exc.sent == Close(1002, "invalid opcode: 0x3")


def test_fail_queues_close_and_eof(side: Side) -> None:
    """§7.1.7: Fail the WebSocket Connection: send a Close frame if possible, then close."""
    protocol = Protocol(side)
    protocol.fail(1011, "boom")
    assert sent(protocol) == [(CLOSE, close_payload(1011, "boom"), True), EOF]
    assert protocol.state is State.CLOSING
    assert protocol.close_sent == Close(1011, "boom")
    assert protocol.close_rcvd_then_sent is None
    for send in SENDS.values():
        with pytest.raises(InvalidState):
            send(protocol)
    # §7.1.7: once failed, an endpoint does not process further data, a Close included.
    protocol.receive_data(incoming(side, CLOSE, close_payload(1000)))
    assert protocol.events_received() == []
    assert protocol.close_rcvd is None


def test_fail_drops_buffered_bytes(side: Side) -> None:
    protocol = Protocol(side)
    frame = incoming(side, TEXT, b"incomplete")
    protocol.receive_data(frame[:-1])
    protocol.fail(1008)
    protocol.receive_data(frame[-1:])
    assert protocol.events_received() == []


def test_fail_truncates_a_long_reason_on_a_character_boundary(side: Side) -> None:
    """§5.5: the Close payload stays within 125 bytes and its reason valid UTF-8."""
    protocol = Protocol(side)
    protocol.fail(1011, "a" + "\u00e9" * 100)
    (frame, eof) = sent(protocol)
    assert eof == EOF
    assert isinstance(frame, tuple)
    assert len(frame[1]) <= 125
    close = Close.parse(frame[1])
    assert close == Close(1011, "a" + "\u00e9" * 59 + "...")
    assert protocol.close_sent == close


@pytest.mark.parametrize("code", [1004, 1006, 1015, 2000, 5000])
def test_fail_with_a_code_that_may_not_be_sent_raises_and_changes_nothing(
    side: Side, code: int
) -> None:
    """§7.4.1: 1004, 1006, 1015 and unassigned codes MUST NOT be sent, not even when failing."""
    protocol = Protocol(side)
    with pytest.raises(ProtocolError, match="invalid status code"):
        protocol.fail(code)
    assert protocol.state is State.OPEN
    assert protocol.close_sent is None
    assert protocol.data_to_send() == []
    protocol.fail(1011)
    assert sent(protocol) == [(CLOSE, close_payload(1011), True), EOF]


def test_fail_keeps_a_reason_of_123_bytes(side: Side) -> None:
    protocol = Protocol(side)
    protocol.fail(1011, "r" * 123)
    assert sent(protocol) == [(CLOSE, close_payload(1011, "r" * 123), True), EOF]


def test_fail_when_already_closing_only_queues_eof(side: Side) -> None:
    """§7.1.7: a Close was already sent, so failing just closes the TCP connection."""
    protocol = Protocol(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.fail(1002, "late")
    assert sent(protocol) == [EOF]
    assert protocol.close_sent == Close(1000)
    assert protocol.state is State.CLOSING


def test_fail_after_the_peer_closed_only_queues_eof(side: Side) -> None:
    """The EOF is queued once: a server queued it already with its Close reply."""
    protocol = Protocol(side)
    close_remotely(protocol)
    protocol.data_to_send()
    protocol.fail(1011)
    assert sent(protocol) == ([] if side is Side.SERVER else [EOF])
    assert protocol.close_sent == Close(1000)
    protocol.fail(1011)
    assert sent(protocol) == []


@pytest.mark.parametrize("method", ["send_ping", "send_pong"])
def test_control_frame_payload_over_125_bytes_is_refused(side: Side, method: str) -> None:
    """§5.5: control frames carry at most 125 bytes of payload."""
    protocol = Protocol(side)
    getattr(protocol, method)(b"x" * 125)
    protocol.data_to_send()
    with pytest.raises(ValueError):
        getattr(protocol, method)(b"x" * 126)
    assert protocol.data_to_send() == []


def test_fail_when_closed_does_nothing(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_eof()
    protocol.fail(1011, "too late")
    assert protocol.data_to_send() == []
    assert protocol.close_sent is None
    assert protocol.state is State.CLOSED


def test_fail_is_idempotent_on_the_close_frame(side: Side) -> None:
    protocol = Protocol(side)
    protocol.fail(1011)
    protocol.fail(1002)
    first, *rest = sent(protocol)
    assert first == (CLOSE, close_payload(1011), True)
    assert rest and set(rest) == {EOF}, "only EOF markers follow the one Close frame"
    assert protocol.close_sent == Close(1011)


# Fragmentation on send (RFC 6455 §5.4).


@pytest.mark.parametrize(("send", "opcode"), [("send_text", TEXT), ("send_binary", BINARY)])
def test_send_fragmented_message(side: Side, debug: bool, send: str, opcode: Opcode) -> None:
    """§5.4: first frame with the opcode, then continuation frames, FIN on the last one;
    control frames may be sent between fragments."""
    protocol = Protocol(side)
    getattr(protocol, send)(b"he", fin=False)
    protocol.send_continuation(b"ll", fin=False)
    protocol.send_ping(b"p")
    protocol.send_continuation(b"", fin=False)
    protocol.send_continuation(b"o", fin=True)
    protocol.send_text(b"next")
    assert sent(protocol) == [
        (opcode, b"he", False),
        (CONT, b"ll", False),
        (PING, b"p", True),
        (CONT, b"", False),
        (CONT, b"o", True),
        (TEXT, b"next", True),
    ]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_send_binary_accepts_bytes_like(side: Side, debug: bool, kind: type) -> None:
    protocol = Protocol(side)
    protocol.send_binary(kind(b"\x00\x01"), fin=False)
    protocol.send_continuation(kind(b"\x02"), fin=True)
    assert sent(protocol) == [(BINARY, b"\x00\x01", False), (CONT, b"\x02", True)]


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536])
def test_send_lengths(side: Side, debug: bool, length: int) -> None:
    protocol = Protocol(side)
    protocol.send_binary(b"L" * length)
    (frame,) = raw_sent(protocol)
    assert isinstance(frame, RawFrame)
    assert frame.payload == b"L" * length
    assert frame.extended == (0 if length < 126 else 2 if length < 65536 else 8)


def test_send_continuation_without_a_message_raises(side: Side) -> None:
    protocol = Protocol(side)
    with pytest.raises(ProtocolError, match="unexpected continuation frame"):
        protocol.send_continuation(b"x", fin=True)
    protocol.send_text(b"a")
    with pytest.raises(ProtocolError, match="unexpected continuation frame"):
        protocol.send_continuation(b"x", fin=False)
    assert sent(protocol) == [(TEXT, b"a", True)]


@pytest.mark.parametrize("first", ["send_text", "send_binary"])
@pytest.mark.parametrize("second", ["send_text", "send_binary"])
def test_send_new_message_while_fragmented_raises(side: Side, first: str, second: str) -> None:
    """§5.4: the fragments of one message MUST NOT be interleaved with another message."""
    protocol = Protocol(side)
    getattr(protocol, first)(b"a", fin=False)
    protocol.data_to_send()
    with pytest.raises(ProtocolError, match="expected a continuation frame"):
        getattr(protocol, second)(b"b")
    assert protocol.data_to_send() == []
    protocol.send_continuation(b"c", fin=True)
    getattr(protocol, second)(b"d")
    assert [item[1] for item in sent(protocol)] == [b"c", b"d"]


def test_send_close_during_a_fragmented_message(side: Side) -> None:
    """§5.4: a Close may be sent between fragments; the message then stays unfinished."""
    protocol = Protocol(side)
    protocol.send_text(b"a", fin=False)
    protocol.send_close(1001)
    assert sent(protocol) == [(TEXT, b"a", False), (CLOSE, close_payload(1001), True)]
    with pytest.raises(InvalidState):
        protocol.send_continuation(b"b", fin=True)


# Logging.


def test_frames_are_logged_at_debug(side: Side, caplog: pytest.LogCaptureFixture) -> None:
    """Every frame sent (">") and received ("<") is logged at DEBUG."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    protocol = Protocol(side)
    protocol.send_text(b"hi")
    protocol.receive_data(incoming(side, BINARY, b"\x01\x02") + incoming(side, PING, b"p"))
    protocol.send_close(1000, "bye")
    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelno for r in records] == [logging.DEBUG] * 5
    assert [r.getMessage() for r in records] == [
        "> TEXT 'hi' [2 bytes]",
        "< BINARY 01 02 [2 bytes]",
        "< PING 70 [1 bytes]",
        "> PONG 70 [1 bytes]",
        "> CLOSE 1000 (OK) bye [5 bytes]",
    ]


def test_fragments_are_logged_as_received(side: Side, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, TEXT, b"a", fin=False) + incoming(side, CONT, b"b"))
    assert [r.getMessage() for r in caplog.records] == [
        "< TEXT 'a' [1 bytes] [continued]",
        "< CONT 62 [1 bytes]",
    ]


def test_nothing_is_logged_above_debug(side: Side, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    protocol = Protocol(side)
    protocol.send_text(b"hi")
    protocol.receive_data(incoming(side, PING, b"p"))
    assert caplog.records == []


def test_invalid_close_frame_is_logged_without_error(
    side: Side, caplog: pytest.LogCaptureFixture
) -> None:
    """A received frame is logged before it is validated, so logging must cope with it."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    protocol = Protocol(side)
    protocol.receive_data(incoming(side, CLOSE, b"\x03\xe8\xff"))
    failure_of(protocol.events_received(), 1007, UnicodeDecodeError, "invalid start byte")
    assert [r.getMessage() for r in caplog.records] == ["< CLOSE invalid close payload [3 bytes]"]


@pytest.mark.parametrize("adapter", [False, True])
def test_custom_logger(side: Side, caplog: pytest.LogCaptureFixture, adapter: bool) -> None:
    """Frames go to the logger given to the protocol (a Logger or a LoggerAdapter)."""
    caplog.set_level(logging.DEBUG, logger="test.custom")
    custom = logging.getLogger("test.custom")
    logger = logging.LoggerAdapter(custom, {"id": 7}) if adapter else custom
    protocol = Protocol(side, logger=logger)
    protocol.send_binary(b"\xab")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("test.custom", "> BINARY ab [1 bytes]")
    ]


# Extensions (RFC 6455 §9): RSV bits and payloads handed to negotiated extensions.


class Doubler(Extension):
    """A toy extension: it sends data frames reversed with RSV1 set, and "inflates"
    received RSV1 frames by doubling their payload, like a decompressor that may
    exceed the size limit it is given."""

    name = "x-doubler"

    def __init__(self, enforce_max_size: bool = True) -> None:
        self.enforce_max_size = enforce_max_size
        self.max_sizes: list[int | None] = []

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode in frames.CTRL_OPCODES:
            return frame
        return replace(frame, data=frame.data[::-1], rsv1=True)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        self.max_sizes.append(max_size)
        if not frame.rsv1:
            return frame
        data = frame.data * 2
        if self.enforce_max_size and max_size is not None and len(data) > max_size:
            raise PayloadTooBig(f"inflated to {len(data)} bytes")
        return replace(frame, data=data, rsv1=False)


class Recorder(Extension):
    """A pass-through extension that records the order in which it is called."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls

    def encode(self, frame: Frame) -> Frame:
        self.calls.append(f"encode {self.name}")
        return frame

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        self.calls.append(f"decode {self.name}")
        return frame


def test_extension_encodes_outgoing_frames(side: Side) -> None:
    protocol = Protocol(side, extensions=[Doubler()])
    protocol.send_text(b"abc", fin=False)
    protocol.send_continuation(b"de", fin=True)
    protocol.send_ping(b"xy")
    frames_sent = raw_sent(protocol)
    assert [(f.opcode, f.rsv, f.payload, f.fin) for f in frames_sent] == [  # type: ignore[union-attr]
        (TEXT, 4, b"cba", False),
        (CONT, 4, b"ed", True),
        (PING, 0, b"xy", True),
    ]


def test_extension_decodes_incoming_frames(side: Side) -> None:
    """§5.2: RSV1 is allowed when a negotiated extension defines it."""
    extension = Doubler()
    protocol = Protocol(side, max_size=100, extensions=[extension])
    protocol.receive_data(
        incoming(side, TEXT, b"ab", rsv=4)
        + incoming(side, BINARY, b"xy", rsv=4, fin=False)
        + incoming(side, PING, b"p")
        + incoming(side, CONT, b"z")
    )
    assert protocol.events_received() == ["abab", Frame(PING, b"p"), b"xyxyz"]
    # The extension is told how much room the message has left (the ping is not a message).
    text, first_fragment, _ping, last_fragment = extension.max_sizes
    assert (text, first_fragment, last_fragment) == (100, 100, 96)


def test_extension_gets_no_limit_without_max_size(side: Side) -> None:
    extension = Doubler()
    protocol = Protocol(side, max_size=None, extensions=[extension])
    protocol.receive_data(incoming(side, BINARY, b"ab", rsv=4))
    assert protocol.events_received() == [b"abab"]
    assert extension.max_sizes == [None]


def test_extensions_encode_in_order_and_decode_in_reverse(side: Side) -> None:
    """§9.1: extensions apply in the order negotiated; decoding undoes them backwards."""
    calls: list[str] = []
    protocol = Protocol(side, extensions=[Recorder("a", calls), Recorder("b", calls)])
    protocol.send_binary(b"x")
    protocol.receive_data(incoming(side, BINARY, b"y"))
    assert calls == ["encode a", "encode b", "decode b", "decode a"]
    assert protocol.events_received() == [b"y"]


def test_extension_enforces_max_size_on_decoded_data(side: Side) -> None:
    protocol = Protocol(side, max_size=5, extensions=[Doubler()])
    fails_with(protocol, incoming(side, BINARY, b"abc", rsv=4), 1009, PayloadTooBig, "inflated")


def test_decoded_fragments_over_max_size_fail_with_1009(side: Side) -> None:
    """The protocol checks the decoded size even if an extension does not."""
    protocol = Protocol(side, max_size=5, extensions=[Doubler(enforce_max_size=False)])
    data = incoming(side, TEXT, b"abc", rsv=4, fin=False)
    fails_with(protocol, data, 1009, PayloadTooBig, "message exceeds limit of 5 bytes")


@pytest.mark.parametrize(("max_size", "slack"), [(10, 1 + 1024), (80_000, 10_000 + 1024)])
def test_compressed_frame_header_gets_some_slack(side: Side, max_size: int, slack: int) -> None:
    """A compressed frame may be larger than the message it carries: 1/8 and 1 KiB more."""
    protocol = Protocol(side, max_size=max_size, extensions=[Doubler()])
    protocol.receive_data(incoming(side, BINARY, b"", rsv=4, length=max_size + slack))
    assert protocol.events_received() == []
    assert protocol.parser_exc is None
    protocol = Protocol(side, max_size=max_size, extensions=[Doubler()])
    header = incoming(side, BINARY, b"", rsv=4, length=max_size + slack + 1)
    fails_with(protocol, header, 1009, PayloadTooBig, f"exceeds limit of {max_size} bytes")


def test_continuation_of_a_compressed_message_gets_the_slack_too(side: Side) -> None:
    protocol = Protocol(side, max_size=80_000, extensions=[Doubler()])
    protocol.receive_data(incoming(side, BINARY, b"ab", rsv=4, fin=False))
    assert protocol.parser_exc is None
    # Doubler decoded 4 bytes: 79_996 are left, so 79_996 + 9_999 + 1024 may follow.
    protocol.receive_data(incoming(side, CONT, b"", length=79_996 + 9_999 + 1024))
    assert protocol.parser_exc is None
    protocol = Protocol(side, max_size=80_000, extensions=[Doubler()])
    protocol.receive_data(incoming(side, BINARY, b"ab", fin=False))
    header = incoming(side, CONT, b"", length=79_998 + 1)
    fails_with(protocol, header, 1009, PayloadTooBig, "exceeds limit of 80000 bytes")


def test_uncompressed_frame_header_gets_no_slack(side: Side) -> None:
    protocol = Protocol(side, max_size=10, extensions=[Doubler()])
    fails_with(protocol, incoming(side, BINARY, b"", length=11), 1009, PayloadTooBig, "limit")


@pytest.mark.parametrize("rsv", [1, 2, 3, 5])
def test_reserved_bits_left_by_extensions_are_a_protocol_error(side: Side, rsv: int) -> None:
    """§5.2: a reserved bit that no negotiated extension clears fails with 1002."""
    protocol = Protocol(side, extensions=[Doubler()])
    protocol_error(protocol, incoming(side, BINARY, b"ab", rsv=rsv), "reserved bits must be 0")
