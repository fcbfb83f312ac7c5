"""Tests for websockets_sync.sansio.frames: the wire format of RFC 6455 §5 and Close payloads."""

from __future__ import annotations

import itertools
import os
import struct
import sys
from collections.abc import Callable

import pytest

from websockets_sync.exceptions import ProtocolError
from websockets_sync.sansio import frames
from websockets_sync.sansio.frames import (
    CLOSE_CODES,
    CTRL_OPCODES,
    DATA_OPCODES,
    OK_CLOSE_CODES,
    Close,
    CloseCode,
    Frame,
    Opcode,
    serialize_frame,
)

from ..utils import accelerator
from .framing import KEY, build, naive_mask, parse_all

LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 70000]

VALID_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def payload_of(length: int) -> bytes:
    """A payload whose bytes are not all equal, so that a shifted mask would show."""
    return bytes(i % 251 for i in range(length))


class FixedKeys:
    """A stand-in for the pool of masking keys that hands out known keys and counts calls."""

    def __init__(self, *keys: bytes) -> None:
        self.keys = list(keys)
        self.sizes: list[int] = []

    def __call__(self, size: int) -> bytes:
        self.sizes.append(size)
        return self.keys.pop(0)

    def next(self) -> bytes:
        """Stand in for the pool of masking keys: one key per call."""
        return self(4)


# Opcodes (RFC 6455 §5.2).


def test_opcodes_have_the_values_of_rfc_6455_section_5_2() -> None:
    assert [(op.name, op.value) for op in Opcode] == [
        ("CONT", 0x0),
        ("TEXT", 0x1),
        ("BINARY", 0x2),
        ("CLOSE", 0x8),
        ("PING", 0x9),
        ("PONG", 0xA),
    ]


def test_control_opcodes_are_those_with_the_high_bit_set() -> None:
    """RFC 6455 §5.5: control frames are identified by opcodes whose most significant bit is 1."""
    assert all(op & 0x8 for op in CTRL_OPCODES)
    assert not any(op & 0x8 for op in DATA_OPCODES)
    assert set(Opcode) == DATA_OPCODES | CTRL_OPCODES


# serialize_frame: header and payload length (RFC 6455 §5.2).


@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("length", LENGTHS)
def test_serialize_unmasked_matches_reference(opcode: Opcode, length: int) -> None:
    """§5.2: FIN set, RSV 0, the opcode, MASK 0 and the length in its shortest encoding."""
    data = payload_of(length)
    assert serialize_frame(opcode, data, mask=False) == build(opcode, data)


@pytest.mark.parametrize(
    ("length", "extended"),
    [(0, 0), (125, 0), (126, 2), (127, 2), (65535, 2), (65536, 8), (2**20 + 3, 8)],
)
def test_serialize_uses_minimal_length_encoding(length: int, extended: int) -> None:
    """§5.2: 0-125 in 7 bits, 126-65535 after 126 in 16 bits, larger after 127 in 64 bits."""
    (frame,) = parse_all(serialize_frame(Opcode.BINARY, bytes(length), mask=False))
    assert frame.extended == extended
    assert len(frame.payload) == length


def test_serialize_64_bit_length_is_big_endian_with_msb_clear() -> None:
    """§5.2: multibyte lengths are in network byte order; the 64-bit MSB MUST be 0."""
    data = serialize_frame(Opcode.BINARY, bytes(65536), mask=False)
    assert data[:10] == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"


@pytest.mark.parametrize(
    ("fin", "rsv1", "first"),
    [(True, False, 0x81), (False, False, 0x01), (True, True, 0xC1), (False, True, 0x41)],
)
def test_serialize_fin_and_rsv1_bits(fin: bool, rsv1: bool, first: int) -> None:
    """§5.2: FIN is bit 0x80 of the first byte; RSV1 (used by extensions) is 0x40."""
    assert serialize_frame(Opcode.TEXT, b"a", fin=fin, rsv1=rsv1, mask=False) == bytes(
        [first, 1, ord("a")]
    )


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("mask", [False, True])
def test_serialize_accepts_bytes_like(
    kind: type, mask: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames, "_mask_keys", FixedKeys(KEY))
    data = kind(b"payload")
    expected = build(Opcode.BINARY, b"payload", mask=KEY if mask else None)
    assert serialize_frame(Opcode.BINARY, data, mask=mask) == expected


# Masking (RFC 6455 §5.3).


@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("length", LENGTHS)
def test_serialize_masked_matches_reference(
    opcode: Opcode, length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§5.3: MASK bit set, the 4-byte key after the length, payload XORed with the key."""
    keys = FixedKeys(KEY)
    monkeypatch.setattr(frames, "_mask_keys", keys)
    data = payload_of(length)
    assert serialize_frame(opcode, data, mask=True) == build(opcode, data, mask=KEY)
    assert keys.sizes == [4]


def test_masked_frames_take_a_fresh_key_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """§5.3: the key MUST be freshly chosen for each frame from a strong source of entropy."""
    keys = FixedKeys(b"\x00\x01\x02\x03", b"\xa0\xb1\xc2\xd3")
    monkeypatch.setattr(frames, "_mask_keys", keys)
    first = serialize_frame(Opcode.TEXT, b"same", mask=True)
    second = serialize_frame(Opcode.TEXT, b"same", mask=True)
    assert parse_all(first)[0].key == b"\x00\x01\x02\x03"
    assert parse_all(second)[0].key == b"\xa0\xb1\xc2\xd3"
    assert keys.sizes == [4, 4]


def test_masked_frames_use_os_urandom() -> None:
    """§5.3: with the real entropy source, two identical frames differ on the wire."""
    first = serialize_frame(Opcode.TEXT, b"same payload", mask=True)
    second = serialize_frame(Opcode.TEXT, b"same payload", mask=True)
    assert first != second
    assert parse_all(first)[0].key != parse_all(second)[0].key
    assert parse_all(first)[0].payload == parse_all(second)[0].payload == b"same payload"


def test_mask_keys_come_from_os_urandom_in_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    """§5.3: keys are read from the strong entropy source, 4 KiB at a time, each used once."""
    pools = [bytes(range(256)) * 16, bytes(reversed(range(256))) * 16]
    sizes: list[int] = []

    def urandom(size: int) -> bytes:
        sizes.append(size)
        return pools.pop(0)

    monkeypatch.setattr(frames.os, "urandom", urandom)
    keys = frames._MaskKeys()
    drawn = [keys.next() for _ in range(1025)]
    assert sizes == [4096, 4096]
    assert drawn[0] == bytes([0, 1, 2, 3]) and drawn[1] == bytes([4, 5, 6, 7])
    assert b"".join(drawn[:1024]) == bytes(range(256)) * 16
    assert drawn[1024] == bytes([255, 254, 253, 252])


def test_unmasked_frames_do_not_call_urandom(monkeypatch: pytest.MonkeyPatch) -> None:
    """§5.1: a server MUST NOT mask; it has no use for a key."""
    keys = FixedKeys()
    monkeypatch.setattr(frames, "_mask_keys", keys)
    (frame,) = parse_all(serialize_frame(Opcode.BINARY, b"data", mask=False))
    assert frame.key is None
    assert keys.sizes == []


KEYS = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04", KEY, b"\x80\x00\x7f\xa5"]

Masker = Callable[[bytes | bytearray | memoryview, bytes], bytes]


def _c_apply_mask() -> Masker:
    masker: Masker = accelerator("websockets_sync.sansio._mask", "apply_mask")
    return masker


@pytest.fixture(params=["python", "c"])
def masker(request: pytest.FixtureRequest) -> Masker:
    """Each implementation of apply_mask: they must agree byte for byte."""
    if request.param == "python":
        return frames.apply_mask_python
    return _c_apply_mask()


@pytest.mark.parametrize("key", KEYS, ids=lambda key: key.hex())
@pytest.mark.parametrize("length", [*range(21), 1000, 65537, frames._TRANSLATE_THRESHOLD + 3])
def test_apply_mask_matches_naive_reference(masker: Masker, key: bytes, length: int) -> None:
    """§5.3: octet i of the result is octet i of the data XOR octet i mod 4 of the key.

    The lengths cover every tail after the C loop's 8-byte blocks and both
    Python paths (integer XOR, then table translation past the threshold).
    """
    data = os.urandom(length)
    masked = masker(data, key)
    assert type(masked) is bytes
    assert masked == naive_mask(data, key)
    assert masker(masked, key) == data


@pytest.mark.parametrize("kind", [bytearray, memoryview])
@pytest.mark.parametrize("length", [6, frames._TRANSLATE_THRESHOLD + 1])
def test_apply_mask_accepts_bytes_like(masker: Masker, kind: type, length: int) -> None:
    data = os.urandom(length)
    assert masker(kind(data), KEY) == naive_mask(data, KEY)


def test_apply_mask_reads_a_slice_of_a_larger_buffer(masker: Masker) -> None:
    """The receive path unmasks a memoryview into its read buffer, at any offset."""
    buffer = bytearray(os.urandom(100))
    view = memoryview(buffer)[3:94]
    assert masker(view, KEY) == naive_mask(bytes(view), KEY)


def test_apply_mask_keeps_leading_and_trailing_zero_bytes(masker: Masker) -> None:
    """The integer XOR must not drop zero bytes at either end of the result."""
    data = b"\x00\x00\x01\x00\x00"
    assert masker(data, b"\x00\x00\x00\x00") == data
    assert masker(KEY + KEY[:1], KEY) == bytes(5)


def test_c_apply_mask_checks_its_arguments() -> None:
    apply_mask_c = _c_apply_mask()
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask_c(b"data", b"abc")
    with pytest.raises(TypeError):
        apply_mask_c("text", KEY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        apply_mask_c(b"data", 1234)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="2 arguments"):
        apply_mask_c(b"data")  # type: ignore[call-arg]


def test_the_c_accelerator_is_used_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_mask_c = _c_apply_mask()
    with monkeypatch.context() as patch:
        patch.delenv("WEBSOCKETS_SYNC_PURE_PYTHON", raising=False)
        assert frames._select_apply_mask() == (apply_mask_c, True)
    if not os.environ.get("WEBSOCKETS_SYNC_PURE_PYTHON"):
        assert frames.apply_mask is apply_mask_c
        assert frames.ACCELERATED


def test_pure_python_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSOCKETS_SYNC_PURE_PYTHON", "1")
    assert frames._select_apply_mask() == (frames.apply_mask_python, False)


def test_python_is_the_fallback_when_the_accelerator_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEBSOCKETS_SYNC_PURE_PYTHON", raising=False)
    # None in sys.modules makes the import raise ImportError, as if never built.
    monkeypatch.setitem(sys.modules, "websockets_sync.sansio._mask", None)
    assert frames._select_apply_mask() == (frames.apply_mask_python, False)


# Close payloads (RFC 6455 §5.5.1 and §7.4).


def test_close_codes_allowed_on_the_wire() -> None:
    """§7.4.1: 1004 is reserved; 1005, 1006 and 1015 MUST NOT be sent in a Close frame."""
    assert {1004, 1005, 1006, 1015}.isdisjoint(CLOSE_CODES)
    assert set(VALID_CODES) - set(range(3000, 5000)) == CLOSE_CODES
    assert {1000, 1001, 1005} == OK_CLOSE_CODES


def test_close_parse_empty_payload_means_no_status() -> None:
    """§7.1.5: a Close frame without a status code reports 1005."""
    assert Close.parse(b"") == Close(CloseCode.NO_STATUS_RCVD, "")


def test_close_parse_one_byte_is_a_protocol_error() -> None:
    """§5.5.1: if there is a body, its first two bytes MUST be a status code."""
    with pytest.raises(ProtocolError, match="too short"):
        Close.parse(b"\x03")


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_parse_valid_codes(code: int) -> None:
    """§5.5.1, §7.4: the code is a big-endian 16-bit integer followed by a UTF-8 reason."""
    assert Close.parse(struct.pack("!H", code) + "bye €".encode()) == Close(code, "bye €")
    assert Close.parse(struct.pack("!H", code)) == Close(code, "")


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_parse_invalid_codes(code: int) -> None:
    """§7.4: reserved, unassigned and local-only codes are a protocol error on the wire."""
    with pytest.raises(ProtocolError, match=f"invalid status code: {code}"):
        Close.parse(struct.pack("!H", code) + b"x")


@pytest.mark.parametrize("reason", [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"caf\xc3"])
def test_close_parse_invalid_utf8_reason(reason: bytes) -> None:
    """§5.5.1: the reason is UTF-8; §8.1: invalid UTF-8 fails the connection (with 1007)."""
    with pytest.raises(UnicodeDecodeError):
        Close.parse(b"\x03\xe8" + reason)


def test_close_parse_accepts_memoryview() -> None:
    assert Close.parse(memoryview(b"\x03\xe9ok")) == Close(1001, "ok")


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_serialize_valid_codes(code: int) -> None:
    assert Close(code, "é").serialize() == code.to_bytes(2, "big") + b"\xc3\xa9"
    assert Close(code).serialize() == code.to_bytes(2, "big")


def test_close_serialize_1005_gives_an_empty_payload() -> None:
    """§7.4.1: 1005 is never sent; a Close frame without a body says the same."""
    assert Close(1005).serialize() == b""


@pytest.mark.parametrize("code", [c for c in INVALID_CODES if c != 1005])
def test_close_serialize_invalid_codes(code: int) -> None:
    """§7.4.1: an endpoint MUST NOT send 1004, 1006, 1015 or unassigned codes."""
    with pytest.raises(ProtocolError, match=f"invalid status code: {code}"):
        Close(code).serialize()


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_round_trip(code: int) -> None:
    close = Close(code, "reason ✓")
    assert Close.parse(close.serialize()) == close


@pytest.mark.parametrize(
    ("close", "text"),
    [
        (Close(1000), "1000 (OK)"),
        (Close(1000, "bye"), "1000 (OK) bye"),
        (Close(1001), "1001 (going away)"),
        (Close(1002), "1002 (protocol error)"),
        (Close(1003), "1003 (unsupported data)"),
        (Close(1004), "1004 (unknown)"),
        (Close(1005), "1005 (no status received [internal])"),
        (Close(1006), "1006 (connection closed abnormally [internal])"),
        (Close(1007), "1007 (invalid frame payload data)"),
        (Close(1008), "1008 (policy violation)"),
        (Close(1009), "1009 (message too big)"),
        (Close(1010), "1010 (mandatory extension)"),
        (Close(1011, "oops"), "1011 (internal error) oops"),
        (Close(1012), "1012 (service restart)"),
        (Close(1013), "1013 (try again later)"),
        (Close(1014), "1014 (bad gateway)"),
        (Close(1015), "1015 (TLS failure [internal])"),
        (Close(1016), "1016 (unknown)"),
        (Close(0), "0 (unknown)"),
        (Close(2999), "2999 (unknown)"),
        (Close(3000), "3000 (registered)"),
        (Close(3999, "x"), "3999 (registered) x"),
        (Close(4000), "4000 (private use)"),
        (Close(4999), "4999 (private use)"),
        (Close(5000), "5000 (unknown)"),
        (Close(65535), "65535 (unknown)"),
    ],
)
def test_close_str(close: Close, text: str) -> None:
    """Close frames render with their code, its meaning and the reason (debug logs)."""
    assert str(close) == text


# Frame.__str__, used in debug logs: it must never raise.


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        (Frame(Opcode.TEXT, b"hello"), "TEXT 'hello' [5 bytes]"),
        (Frame(Opcode.TEXT, "café".encode()), "TEXT 'café' [5 bytes]"),
        (Frame(Opcode.TEXT, b""), "TEXT '' [0 bytes]"),
        (Frame(Opcode.TEXT, b"ab", fin=False), "TEXT 'ab' [2 bytes] [continued]"),
        (Frame(Opcode.TEXT, b"\xff"), "TEXT '\ufffd' [1 bytes]"),
        (Frame(Opcode.BINARY, b"\x00\x01\xff"), "BINARY 00 01 ff [3 bytes]"),
        (Frame(Opcode.BINARY, b""), "BINARY  [0 bytes]"),
        (Frame(Opcode.CONT, b"ab", fin=False), "CONT 61 62 [2 bytes] [continued]"),
        (Frame(Opcode.CONT, b"ab"), "CONT 61 62 [2 bytes]"),
        (Frame(Opcode.PING, b"\x01"), "PING 01 [1 bytes]"),
        (Frame(Opcode.PONG, b""), "PONG  [0 bytes]"),
        (Frame(Opcode.CLOSE, b"\x03\xe8bye"), "CLOSE 1000 (OK) bye [5 bytes]"),
        (Frame(Opcode.CLOSE, b""), "CLOSE 1005 (no status received [internal]) [0 bytes]"),
        (Frame(Opcode.CLOSE, b"\x0f\xa0"), "CLOSE 4000 (private use) [2 bytes]"),
        # Compressed text is not UTF-8: it is shown as hex.
        (Frame(Opcode.TEXT, b"\xf2\x48", rsv1=True), "TEXT f2 48 [2 bytes]"),
        (Frame(Opcode.BINARY, memoryview(b"\x07")), "BINARY 07 [1 bytes]"),  # type: ignore[arg-type]
    ],
)
def test_frame_str(frame: Frame, text: str) -> None:
    assert str(frame) == text


@pytest.mark.parametrize(
    "payload",
    [
        b"\x03",
        b"\x03\xed",
        b"\x03\xec",
        b"\x00\x00",
        b"\x13\x88",
        b"\x03\xe8\xff",
        b"\x03\xe8\xc0\x80",
    ],
    ids=["one-byte", "1005", "1004", "code-0", "code-5000", "bad-utf8", "overlong"],
)
def test_frame_str_invalid_close_payload(payload: bytes) -> None:
    """A Close frame that fails validation still renders, since it is logged before checks."""
    text = str(Frame(Opcode.CLOSE, payload))
    assert text == f"CLOSE invalid close payload [{len(payload)} bytes]"


def test_frame_str_truncates_long_text() -> None:
    text = str(Frame(Opcode.TEXT, b"x" * 1000))
    assert text == "TEXT '" + "x" * 72 + "...' [1000 bytes]"


def test_frame_str_keeps_text_at_the_limit() -> None:
    assert str(Frame(Opcode.TEXT, b"y" * 75)) == "TEXT '" + "y" * 75 + "' [75 bytes]"


def test_frame_str_truncates_long_binary() -> None:
    text = str(Frame(Opcode.BINARY, bytes(range(200))))
    assert text == "BINARY " + bytes(range(25)).hex(" ") + " ... [200 bytes]"


def test_frame_str_keeps_binary_at_the_limit() -> None:
    assert str(Frame(Opcode.PING, bytes(25))) == "PING " + bytes(25).hex(" ") + " [25 bytes]"


@pytest.mark.parametrize(
    ("opcode", "data", "fin", "rsv1"),
    list(
        itertools.product(
            list(Opcode),
            [b"", b"\x03\xe8", b"\xff\xfe", payload_of(130)],
            [True, False],
            [True, False],
        )
    ),
)
def test_frame_str_never_raises(opcode: Opcode, data: bytes, fin: bool, rsv1: bool) -> None:
    """Every opcode and flag combination renders with its opcode name and length."""
    text = str(Frame(opcode, data, fin=fin, rsv1=rsv1))
    assert text.startswith(opcode.name + " ")
    assert f"[{len(data)} bytes]" in text
    assert text.endswith("[continued]") is not fin


def test_frame_defaults() -> None:
    """A Frame is final and has its reserved bits clear unless told otherwise."""
    frame = Frame(Opcode.BINARY, b"x")
    assert (frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (True, False, False, False)
