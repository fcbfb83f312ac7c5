"""Tests for websockets_sync.sansio.extensions.permessage_deflate (RFC 7692)."""

from __future__ import annotations

import random
import tracemalloc
import types
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from websockets_sync.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from websockets_sync.sansio.extensions import permessage_deflate
from websockets_sync.sansio.extensions.base import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameter,
    ServerExtensionFactory,
)
from websockets_sync.sansio.extensions.permessage_deflate import (
    DEFAULT_COMPRESS_SETTINGS,
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets_sync.sansio.frames import Frame, Opcode, serialize_frame
from websockets_sync.sansio.protocol import Failure, Protocol, Side

MiB = 2**20

# RFC 7692 §7.2.3.1: "Hello" in one compressed block, tail removed.
HELLO = bytes.fromhex("f2 48 cd c9 c9 07 00")
# RFC 7692 §7.2.3.2: "Hello" again, referring to the first one in the window.
HELLO_AGAIN = bytes.fromhex("f2 00 11 00 00")
# RFC 7692 §7.2.3.3: "Hello" in a stored (uncompressed) block.
HELLO_STORED = bytes.fromhex("00 05 00 fa ff 48 65 6c 6c 6f 00")
# RFC 7692 §7.2.3.4: "Hello" in a block with BFINAL set, then an empty block header.
HELLO_BFINAL = bytes.fromhex("f3 48 cd c9 c9 07 00 00")
# RFC 7692 §7.2.3.5: "He" and "llo" in two blocks.
HELLO_TWO_BLOCKS = bytes.fromhex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")


def deflate(data: bytes, wbits: int = 15) -> bytes:
    """Compress one message the way RFC 7692 §7.2.1 says, with plain zlib."""
    compressor = zlib.compressobj(wbits=-wbits)
    output = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert output.endswith(b"\x00\x00\xff\xff")
    return output[:-4]


def extension(
    remote_no_context_takeover: bool = False,
    local_no_context_takeover: bool = False,
    remote_max_window_bits: int = 15,
    local_max_window_bits: int = 15,
    compress_settings: dict[str, Any] | None = None,
) -> PerMessageDeflate:
    return PerMessageDeflate(
        remote_no_context_takeover,
        local_no_context_takeover,
        remote_max_window_bits,
        local_max_window_bits,
        compress_settings,
    )


def compressed(data: bytes, opcode: Opcode = Opcode.TEXT, fin: bool = True) -> Frame:
    """A received frame with RSV1 set, as the first frame of a compressed message."""
    return Frame(opcode, data, fin, rsv1=True)


def decode_message(ext: PerMessageDeflate, frames: Sequence[Frame]) -> bytes:
    return b"".join(ext.decode(frame).data for frame in frames)


def patterned(size: int, seed: int) -> bytes:
    """Data with repeats at many distances, from 1 byte to tens of kilobytes."""
    rng = random.Random(seed)
    parts: list[bytes] = []
    history = b""
    while len(history) < size:
        if history and rng.random() < 0.6:
            distance = min(len(history), int(2 ** rng.uniform(0, 16)))
            start = len(history) - distance
            part = history[start : start + rng.randint(3, 300)]
        else:
            part = rng.randbytes(rng.randint(1, 600))
        parts.append(part)
        history += part
    return history[:size]


# Encoding: RFC 7692 §7.2.1 and the examples of §7.2.3.


def test_encode_hello() -> None:
    assert extension().encode(Frame(Opcode.TEXT, b"Hello")) == Frame(Opcode.TEXT, HELLO, rsv1=True)


def test_encode_with_context_takeover_refers_to_previous_message() -> None:
    ext = extension()
    ext.encode(Frame(Opcode.TEXT, b"Hello"))
    assert ext.encode(Frame(Opcode.TEXT, b"Hello")).data == HELLO_AGAIN


def test_encode_without_context_takeover_starts_afresh() -> None:
    ext = extension(local_no_context_takeover=True)
    ext.encode(Frame(Opcode.TEXT, b"Hello"))
    assert ext.encode(Frame(Opcode.TEXT, b"Hello")).data == HELLO


def test_encode_remote_no_context_takeover_does_not_reset_encoder() -> None:
    ext = extension(remote_no_context_takeover=True)
    ext.encode(Frame(Opcode.TEXT, b"Hello"))
    assert ext.encode(Frame(Opcode.TEXT, b"Hello")).data == HELLO_AGAIN


def test_encode_compress_settings_level_0_gives_stored_block() -> None:
    ext = extension(compress_settings={"level": 0})
    assert ext.encode(Frame(Opcode.TEXT, b"Hello")).data == HELLO_STORED


def test_encode_fragmented_message() -> None:
    ext = extension()
    first = ext.encode(Frame(Opcode.BINARY, b"Hel", fin=False))
    last = ext.encode(Frame(Opcode.CONT, b"lo", fin=True))
    # Only the first frame carries RSV1 (RFC 7692 §6.1).
    assert (first.opcode, first.fin, first.rsv1) == (Opcode.BINARY, False, True)
    assert (last.opcode, last.fin, last.rsv1) == (Opcode.CONT, True, False)
    # A non-final frame keeps its flush marker; the last one loses it (§7.2.1).
    assert first.data.endswith(b"\x00\x00\xff\xff")
    assert not last.data.endswith(b"\x00\x00\xff\xff")
    assert decode_message(extension(), [first, last]) == b"Hello"


def test_encode_empty_last_fragment_is_a_single_zero_byte() -> None:
    ext = extension()
    first = ext.encode(Frame(Opcode.TEXT, b"Hello", fin=False))
    last = ext.encode(Frame(Opcode.CONT, b"", fin=True))
    assert last.data == b"\x00"  # RFC 7692 §7.2.3.6
    assert decode_message(extension(), [first, last]) == b"Hello"


class _QuietFlushCompressor:
    """A compressor whose flush outputs nothing when there is nothing new to flush.

    Some zlib versions behave this way (deflate returns Z_BUF_ERROR for a
    repeated flush without input); zlib 1.2.13 emits another empty block instead.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._compressor = zlib.compressobj(**kwargs)
        self._pending = False

    def compress(self, data: bytes) -> bytes:
        self._pending = self._pending or bool(data)
        return self._compressor.compress(data)

    def flush(self, mode: int) -> bytes:
        if not self._pending:
            return b""
        self._pending = False
        return self._compressor.flush(mode)


def test_encode_empty_last_fragment_when_flush_outputs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Replace the module's zlib, not the global one that the fake relies on.
    fake_zlib = types.SimpleNamespace(
        compressobj=_QuietFlushCompressor,
        decompressobj=zlib.decompressobj,
        Z_SYNC_FLUSH=zlib.Z_SYNC_FLUSH,
        error=zlib.error,
    )
    monkeypatch.setattr(permessage_deflate, "zlib", fake_zlib)
    ext = extension()
    first = ext.encode(Frame(Opcode.TEXT, b"Hello", fin=False))
    last = ext.encode(Frame(Opcode.CONT, b"", fin=True))
    monkeypatch.undo()
    assert last.data == b"\x00"
    assert decode_message(extension(), [first, last]) == b"Hello"


def test_encode_empty_message() -> None:
    frame = extension().encode(Frame(Opcode.BINARY, b""))
    assert frame == Frame(Opcode.BINARY, b"\x00", rsv1=True)
    assert extension().decode(frame).data == b""


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_encode_accepts_bytes_like_and_returns_bytes(kind: Any) -> None:
    frame = extension().encode(Frame(Opcode.BINARY, kind(b"Hello")))
    assert type(frame.data) is bytes
    assert frame.data == HELLO


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_encode_leaves_control_frames_and_context_alone(opcode: Opcode) -> None:
    ext = extension()
    ext.encode(Frame(Opcode.TEXT, b"Hello", fin=False))
    control = Frame(opcode, b"\x03\xe8Hello")
    assert ext.encode(control) == Frame(opcode, b"\x03\xe8Hello")
    # The control frame didn't go through the compressor: the message goes on.
    last = ext.encode(Frame(Opcode.CONT, b"Hello"))
    assert last.data == HELLO_AGAIN


def test_encode_keeps_other_reserved_bits() -> None:
    frame = extension().encode(Frame(Opcode.TEXT, b"Hello", rsv2=True, rsv3=True))
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (True, True, True)


# Decoding: RFC 7692 §7.2.2 and the examples of §7.2.3.


def test_decode_hello() -> None:
    assert extension().decode(compressed(HELLO)) == Frame(Opcode.TEXT, b"Hello")


def test_decode_with_context_takeover() -> None:
    ext = extension()
    ext.decode(compressed(HELLO))
    assert ext.decode(compressed(HELLO_AGAIN)).data == b"Hello"


def test_decode_without_context_takeover_resets_window() -> None:
    ext = extension(remote_no_context_takeover=True)
    assert ext.decode(compressed(HELLO)).data == b"Hello"
    assert ext.decode(compressed(HELLO)).data == b"Hello"
    # A reference to the previous message can't be resolved with an empty window.
    with pytest.raises(ProtocolError):
        ext.decode(compressed(HELLO_AGAIN))


def test_decode_local_no_context_takeover_keeps_window() -> None:
    ext = extension(local_no_context_takeover=True)
    ext.decode(compressed(HELLO))
    assert ext.decode(compressed(HELLO_AGAIN)).data == b"Hello"


def test_decode_stored_block() -> None:
    assert extension().decode(compressed(HELLO_STORED)).data == b"Hello"


def test_decode_two_blocks() -> None:
    assert extension().decode(compressed(HELLO_TWO_BLOCKS)).data == b"Hello"


def test_decode_fragmented_message_split_anywhere() -> None:
    # RFC 7692 §7.2.3.1: the compressed payload is split between the frames
    # without regard to block boundaries.
    ext = extension()
    first = ext.decode(Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=True))
    last = ext.decode(Frame(Opcode.CONT, HELLO[3:], fin=True))
    assert (first.opcode, first.fin, first.rsv1) == (Opcode.TEXT, False, False)
    assert (last.opcode, last.fin, last.rsv1) == (Opcode.CONT, True, False)
    assert first.data + last.data == b"Hello"


def test_decode_bfinal_block_then_next_message() -> None:
    ext = extension()
    assert ext.decode(compressed(HELLO_BFINAL)).data == b"Hello"
    # The stream ended: the next message starts a new one.
    assert ext.decode(compressed(HELLO)).data == b"Hello"
    assert ext.decode(compressed(HELLO_AGAIN)).data == b"Hello"


def test_decode_bfinal_block_without_trailing_zero_byte() -> None:
    # Some peers end the message with the final block and nothing after it.
    finished = zlib.compressobj(wbits=-15)
    data = finished.compress(b"Hello") + finished.flush(zlib.Z_FINISH)
    ext = extension()
    assert ext.decode(compressed(data)).data == b"Hello"
    assert ext.decode(compressed(HELLO)).data == b"Hello"


def test_decode_bfinal_block_in_first_fragment() -> None:
    # A frame that ends exactly with a final block, then a new stream.
    finished = zlib.compressobj(wbits=-15)
    first = finished.compress(b"Hel") + finished.flush(zlib.Z_FINISH)
    ext = extension()
    frames = [compressed(first, fin=False), Frame(Opcode.CONT, deflate(b"lo"))]
    assert decode_message(ext, frames) == b"Hello"


def test_decode_bfinal_block_followed_by_more_data() -> None:
    finished = zlib.compressobj(wbits=-15)
    data = finished.compress(b"Hel") + finished.flush(zlib.Z_FINISH) + deflate(b"lo")
    assert extension().decode(compressed(data)).data == b"Hello"


def test_decode_new_stream_header_split_across_frames() -> None:
    # After a final block, a non-final frame may end inside the header of the
    # next stream's stored block (LEN 0xff00, first byte of NLEN); the next
    # frame completes it. Only the appended tail of a last frame is skipped.
    finished = zlib.compressobj(wbits=-15)
    first = finished.compress(b"Hel") + finished.flush(zlib.Z_FINISH) + b"\x00\x00\xff\xff"
    last = b"\x00" + b"x" * 0xFF00 + b"\x00"
    frames = [compressed(first, fin=False), Frame(Opcode.CONT, last)]
    assert decode_message(extension(), frames) == b"Hel" + b"x" * 0xFF00


def test_decode_uncompressed_message_passes_through() -> None:
    ext = extension()
    first = Frame(Opcode.TEXT, b"not deflate", fin=False)
    last = Frame(Opcode.CONT, b"\xff\xff", fin=True)
    assert ext.decode(first) is first
    assert ext.decode(last) is last
    # The next compressed message still decodes, with a fresh window.
    assert ext.decode(compressed(HELLO)).data == b"Hello"


def test_decode_uncompressed_after_compressed_fragmented_message() -> None:
    ext = extension()
    ext.decode(compressed(HELLO, fin=False))
    ext.decode(Frame(Opcode.CONT, b""))
    first = Frame(Opcode.BINARY, b"raw", fin=False)
    assert ext.decode(first) is first
    cont = Frame(Opcode.CONT, b"raw")
    assert ext.decode(cont) is cont


@pytest.mark.parametrize("compressed_message", [True, False])
def test_decode_rsv1_on_continuation_frame(compressed_message: bool) -> None:
    ext = extension()
    ext.decode(Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=compressed_message))
    with pytest.raises(ProtocolError, match="continuation"):
        ext.decode(Frame(Opcode.CONT, HELLO[3:], rsv1=True))


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_decode_leaves_control_frames_alone(opcode: Opcode) -> None:
    ext = extension()
    first = ext.decode(Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=True))
    # RSV1 on a control frame stays set, for the state machine to reject.
    control = Frame(opcode, HELLO, rsv1=True)
    assert ext.decode(control) == Frame(opcode, HELLO, rsv1=True)
    last = ext.decode(Frame(Opcode.CONT, HELLO[3:]))
    assert first.data + last.data == b"Hello"


def test_decode_keeps_other_reserved_bits() -> None:
    frame = extension().decode(Frame(Opcode.TEXT, HELLO, rsv1=True, rsv2=True, rsv3=True))
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, True, True)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff\xff",  # reserved block type
        bytes.fromhex("00 05 00 00 00 48 65 6c 6c 6f"),  # stored block, bad NLEN
        HELLO_AGAIN,  # distance beyond the (empty) window
    ],
)
def test_decode_corrupt_data(data: bytes) -> None:
    with pytest.raises(ProtocolError) as raised:
        extension().decode(compressed(data))
    assert isinstance(raised.value.__cause__, zlib.error)


# Decoding: bounded output.


def test_decode_decompression_bomb_is_stopped_early() -> None:
    bomb = deflate(bytes(10 * MiB))
    assert len(bomb) < 20_000
    ext = extension()
    frame = compressed(bomb, Opcode.BINARY)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig):
            ext.decode(frame, max_size=MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The output is capped at max_size + 1 byte; CPython may copy it once more.
    assert peak < 3 * MiB


def test_decode_bomb_in_non_final_frame() -> None:
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(bytes(2 * MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(PayloadTooBig):
        extension().decode(compressed(data, fin=False), max_size=MiB)


def test_decode_limit_counts_every_stream_of_a_frame() -> None:
    # Two DEFLATE streams (§7.2.3.4) of 600 KiB each in one frame.
    finished = zlib.compressobj(wbits=-15)
    data = finished.compress(bytes(600 * 1024)) + finished.flush(zlib.Z_FINISH)
    data += deflate(bytes(600 * 1024))
    ext = extension()
    assert len(ext.decode(compressed(data), max_size=1200 * 1024).data) == 1200 * 1024
    with pytest.raises(PayloadTooBig):
        extension().decode(compressed(data), max_size=MiB)


class _RecordingDecompressor:
    """A decompressor that records the output cap of each call."""

    caps: ClassVar[list[int]] = []

    def __init__(self, **kwargs: Any) -> None:
        self._decompressor = zlib.decompressobj(**kwargs)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        self.caps.append(max_length)
        return self._decompressor.decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return self._decompressor.eof

    @property
    def unused_data(self) -> bytes:
        return self._decompressor.unused_data


@pytest.fixture
def recorded_caps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    fake_zlib = types.SimpleNamespace(
        decompressobj=_RecordingDecompressor, error=zlib.error, Z_SYNC_FLUSH=zlib.Z_SYNC_FLUSH
    )
    monkeypatch.setattr(permessage_deflate, "zlib", fake_zlib)
    caps: list[int] = []
    monkeypatch.setattr(_RecordingDecompressor, "caps", caps)
    return caps


def test_decode_caps_each_stream_at_what_is_left(recorded_caps: list[int]) -> None:
    finished = zlib.compressobj(wbits=-15)
    data = finished.compress(bytes(1000)) + finished.flush(zlib.Z_FINISH)
    data += deflate(bytes(500))
    assert len(extension().decode(compressed(data), max_size=1600).data) == 1500
    # One byte more than what is left: 1600 + 1, then 600 + 1.
    assert recorded_caps == [1601, 601]


def test_decode_caps_negative_allowance_at_one_byte(recorded_caps: list[int]) -> None:
    # max_length=0 would mean "no cap" to zlib.
    with pytest.raises(PayloadTooBig):
        extension().decode(compressed(HELLO), max_size=-1)
    assert recorded_caps == [1]


@pytest.mark.parametrize("size", [0, 1, 1000, 100_000])
def test_decode_limit_is_exact(size: int) -> None:
    payload = deflate(b"x" * size)
    assert len(extension().decode(compressed(payload), max_size=size).data) == size
    if size:
        with pytest.raises(PayloadTooBig):
            extension().decode(compressed(payload), max_size=size - 1)


def test_decode_negative_limit_is_treated_as_zero() -> None:
    with pytest.raises(PayloadTooBig):
        extension().decode(compressed(HELLO), max_size=-1)


@pytest.mark.parametrize(("left", "fits"), [(10, True), (9, False)])
def test_decode_limit_applies_per_frame(left: int, fits: bool) -> None:
    # The caller passes what is left of its allowance for the message.
    encoder = extension()
    first = encoder.encode(Frame(Opcode.TEXT, b"a" * 600, fin=False))
    last = encoder.encode(Frame(Opcode.CONT, b"b" * 10))
    decoder = extension()
    assert decoder.decode(first, max_size=600).data == b"a" * 600
    if fits:
        assert decoder.decode(last, max_size=left).data == b"b" * 10
    else:
        with pytest.raises(PayloadTooBig):
            decoder.decode(last, max_size=left)


def test_decode_without_limit() -> None:
    data = patterned(3 * MiB, seed=1)
    assert extension().decode(compressed(deflate(data)), max_size=None).data == data


# Window sizes.


def negotiate(
    client_factory: ClientPerMessageDeflateFactory,
    server_factory: ServerPerMessageDeflateFactory,
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    response, server = server_factory.process_request_params(
        client_factory.get_request_params(), []
    )
    client = client_factory.process_response_params(response, [])
    return client, server


@pytest.mark.parametrize("bits", range(8, 16))
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_round_trip_every_window_size(bits: int, no_context_takeover: bool) -> None:
    client, server = negotiate(
        ClientPerMessageDeflateFactory(
            server_no_context_takeover=no_context_takeover,
            client_no_context_takeover=no_context_takeover,
            server_max_window_bits=bits,
        ),
        ServerPerMessageDeflateFactory(client_max_window_bits=bits),
    )
    assert (client.local_max_window_bits, client.remote_max_window_bits) == (bits, bits)
    assert (server.local_max_window_bits, server.remote_max_window_bits) == (bits, bits)
    assert client.local_no_context_takeover is no_context_takeover
    assert server.remote_no_context_takeover is no_context_takeover
    for seed in range(4):
        message = patterned(20_000 + seed * 7_777, seed)
        for sender, receiver in [(client, server), (server, client)]:
            sent = sender.encode(Frame(Opcode.BINARY, message[:9_000], fin=False))
            sent_last = sender.encode(Frame(Opcode.CONT, message[9_000:]))
            received = decode_message(receiver, [sent, sent_last])
            assert received == message


@pytest.mark.parametrize("bits", range(8, 16))
def test_encoder_output_fits_the_negotiated_window(bits: int) -> None:
    # Repeats at distances just above the window must not be referenced.
    window = 2**bits
    block = random.Random(bits).randbytes(window + 50)
    message = block * 4 + random.Random(bits).randbytes(window // 2) * 4
    ext = extension(local_max_window_bits=bits)
    data = ext.encode(Frame(Opcode.BINARY, message)).data
    decompressor = zlib.decompressobj(wbits=-bits)
    assert decompressor.decompress(data + b"\x00\x00\xff\xff") == message


def test_window_bits_8_compresses_with_a_9_bit_window() -> None:
    # zlib refuses windowBits=8 for raw deflate, and a 9-bit window never
    # emits distances over 250, which a 256-byte window can decode.
    with pytest.raises(ValueError):
        zlib.compressobj(wbits=-8)
    ext = extension(local_max_window_bits=8)
    message = b"abcdefgh" * 100
    assert ext.encode(Frame(Opcode.BINARY, message)).data == deflate(message, wbits=9)


def test_decoder_keeps_only_the_negotiated_window() -> None:
    # The second message refers 300 bytes back, into the first one. inflate
    # checks distances against the window it keeps between calls.
    message = random.Random(0).randbytes(300)
    encoder = extension()
    frames = [encoder.encode(Frame(Opcode.BINARY, message)) for _ in range(2)]
    assert len(frames[1].data) < 20
    wide = extension(remote_max_window_bits=9)
    assert [wide.decode(frame).data for frame in frames] == [message, message]
    narrow = extension(remote_max_window_bits=8)
    assert narrow.decode(frames[0]).data == message
    with pytest.raises(ProtocolError):
        narrow.decode(frames[1])


def test_context_takeover_compresses_repeated_messages_better() -> None:
    message = patterned(2_000, seed=3)
    kept, reset = extension(), extension(local_no_context_takeover=True)
    sizes: dict[str, list[int]] = {"kept": [], "reset": []}
    for _ in range(3):
        sizes["kept"].append(len(kept.encode(Frame(Opcode.BINARY, message)).data))
        sizes["reset"].append(len(reset.encode(Frame(Opcode.BINARY, message)).data))
    assert sizes["reset"] == [sizes["reset"][0]] * 3
    assert sizes["kept"][1] < sizes["kept"][0] // 10


# PerMessageDeflate construction.


@pytest.mark.parametrize("bits", [7, 16, 0, True])
def test_extension_rejects_window_bits_out_of_range(bits: int) -> None:
    with pytest.raises(ValueError, match="remote_max_window_bits"):
        extension(remote_max_window_bits=bits)
    with pytest.raises(ValueError, match="local_max_window_bits"):
        extension(local_max_window_bits=bits)


def test_extension_rejects_wbits_in_compress_settings() -> None:
    with pytest.raises(ValueError, match="wbits"):
        extension(compress_settings={"wbits": 9})


def test_extension_copies_compress_settings() -> None:
    settings = {"level": 0}
    ext = extension(compress_settings=settings)
    settings["level"] = 9
    assert ext.encode(Frame(Opcode.TEXT, b"Hello")).data == HELLO_STORED


def test_extension_repr() -> None:
    assert repr(extension(True, False, 10, 12)) == (
        "PerMessageDeflate(remote_no_context_takeover=True, "
        "local_no_context_takeover=False, remote_max_window_bits=10, "
        "local_max_window_bits=12)"
    )


def test_extension_name() -> None:
    assert extension().name == "permessage-deflate"


# Client factory.


@pytest.mark.parametrize("name", ["server_max_window_bits", "client_max_window_bits"])
@pytest.mark.parametrize("bits", [7, 16, -1])
def test_client_factory_rejects_window_bits_out_of_range(name: str, bits: int) -> None:
    kwargs: dict[str, Any] = {name: bits}
    with pytest.raises(ValueError, match=name):
        ClientPerMessageDeflateFactory(**kwargs)


def test_client_factory_rejects_wbits_in_compress_settings() -> None:
    with pytest.raises(ValueError, match="wbits"):
        ClientPerMessageDeflateFactory(compress_settings={"wbits": 9})


@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        ({}, [("client_max_window_bits", None)]),
        ({"client_max_window_bits": None}, []),
        ({"client_max_window_bits": False}, []),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "10")]),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 9,
                "client_max_window_bits": 8,
            },
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "9"),
                ("client_max_window_bits", "8"),
            ],
        ),
    ],
)
def test_client_factory_request_params(
    kwargs: dict[str, Any], params: list[ExtensionParameter]
) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)
    assert factory.name == "permessage-deflate"
    assert factory.get_request_params() == params


def settings(ext: PerMessageDeflate) -> tuple[bool, bool, int, int]:
    return (
        ext.remote_no_context_takeover,
        ext.local_no_context_takeover,
        ext.remote_max_window_bits,
        ext.local_max_window_bits,
    )


@pytest.mark.parametrize(
    ("kwargs", "response", "expected"),
    [
        # (remote = server no takeover, local no takeover, remote bits, local bits)
        ({}, [], (False, False, 15, 15)),
        ({}, [("server_no_context_takeover", None)], (True, False, 15, 15)),
        ({}, [("client_no_context_takeover", None)], (False, True, 15, 15)),
        ({}, [("server_max_window_bits", "10")], (False, False, 10, 15)),
        ({}, [("client_max_window_bits", "9")], (False, False, 15, 9)),
        (
            {"server_no_context_takeover": True},
            [("server_no_context_takeover", None)],
            (True, False, 15, 15),
        ),
        # The client keeps its promise even if the server doesn't echo it.
        ({"client_no_context_takeover": True}, [], (False, True, 15, 15)),
        (
            {"server_max_window_bits": 12},
            [("server_max_window_bits", "12")],
            (False, False, 12, 15),
        ),
        ({"server_max_window_bits": 12}, [("server_max_window_bits", "8")], (False, False, 8, 15)),
        (
            {"client_max_window_bits": 12},
            [("client_max_window_bits", "12")],
            (False, False, 15, 12),
        ),
        ({"client_max_window_bits": 12}, [("client_max_window_bits", "8")], (False, False, 15, 8)),
        # A suggested window that the server ignored is kept.
        ({"client_max_window_bits": 12}, [], (False, False, 15, 12)),
        (
            {},
            [
                ("client_max_window_bits", "8"),
                ("server_max_window_bits", "11"),
                ("client_no_context_takeover", None),
                ("server_no_context_takeover", None),
            ],
            (True, True, 11, 8),
        ),
    ],
)
def test_client_factory_accepts_response(
    kwargs: dict[str, Any],
    response: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    ext = ClientPerMessageDeflateFactory(**kwargs).process_response_params(response, [])
    assert isinstance(ext, PerMessageDeflate)
    assert settings(ext) == expected


def test_client_factory_passes_compress_settings() -> None:
    factory = ClientPerMessageDeflateFactory(compress_settings={"level": 0})
    ext = factory.process_response_params([], [])
    assert ext.compress_settings == {"level": 0}
    assert ext.encode(Frame(Opcode.TEXT, b"Hello")).data == HELLO_STORED


def test_client_factory_rejects_second_permessage_deflate() -> None:
    factory = ClientPerMessageDeflateFactory()
    with pytest.raises(NegotiationError, match="duplicate"):
        factory.process_response_params([], [extension()])


def test_client_factory_ignores_other_accepted_extensions() -> None:
    class Other(Extension):
        name = "x-other"

    ext = ClientPerMessageDeflateFactory().process_response_params([], [Other()])
    assert isinstance(ext, PerMessageDeflate)


BAD_WINDOW_BITS = [None, "", "7", "16", "08", "+9", "-9", " 9", "9.0", "0x9", "١٢"]


@pytest.mark.parametrize(
    ("kwargs", "response", "error"),
    [
        ({}, [("foo", None)], InvalidParameterName),
        ({}, [("Server_No_Context_Takeover", None)], InvalidParameterName),
        ({}, [("server_no_context_takeover", "true")], InvalidParameterValue),
        ({}, [("client_no_context_takeover", "")], InvalidParameterValue),
        # RFC 7692 §7.1.2.2: a response must give client_max_window_bits a value.
        ({}, [("client_max_window_bits", None)], InvalidParameterValue),
        *[
            ({}, [(name, None), (name, None)], DuplicateParameter)
            for name in ["server_no_context_takeover", "client_no_context_takeover"]
        ],
        *[
            ({}, [(name, "10"), (name, "10")], DuplicateParameter)
            for name in ["server_max_window_bits", "client_max_window_bits"]
        ],
        *[
            ({}, [(name, value)], InvalidParameterValue)
            for name in ["server_max_window_bits", "client_max_window_bits"]
            for value in BAD_WINDOW_BITS
        ],
    ],
)
def test_client_factory_rejects_malformed_response(
    kwargs: dict[str, Any], response: list[ExtensionParameter], error: type[Exception]
) -> None:
    with pytest.raises(error):
        ClientPerMessageDeflateFactory(**kwargs).process_response_params(response, [])


@pytest.mark.parametrize(
    ("kwargs", "response", "match"),
    [
        # RFC 7692 §7.1.1.1: the server must honour server_no_context_takeover.
        ({"server_no_context_takeover": True}, [], "expected server_no_context_takeover"),
        # RFC 7692 §7.1.2.1: same or smaller server_max_window_bits, never absent.
        ({"server_max_window_bits": 10}, [], "expected server_max_window_bits"),
        ({"server_max_window_bits": 10}, [("server_max_window_bits", "11")], "exceeds"),
        # RFC 7692 §7.1.2.2: client_max_window_bits only if offered, never larger.
        ({"client_max_window_bits": None}, [("client_max_window_bits", "10")], "unexpected"),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "11")], "exceeds"),
    ],
)
def test_client_factory_rejects_response_that_breaks_the_offer(
    kwargs: dict[str, Any], response: list[ExtensionParameter], match: str
) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)
    with pytest.raises(NegotiationError, match=match) as raised:
        factory.process_response_params(response, [])
    assert type(raised.value) is NegotiationError


# Server factory.


@pytest.mark.parametrize("name", ["server_max_window_bits", "client_max_window_bits"])
@pytest.mark.parametrize("bits", [7, 16, True])
def test_server_factory_rejects_window_bits_out_of_range(name: str, bits: int) -> None:
    kwargs: dict[str, Any] = {name: bits}
    with pytest.raises(ValueError, match=name):
        ServerPerMessageDeflateFactory(**kwargs)


def test_server_factory_requires_a_window_to_require() -> None:
    with pytest.raises(ValueError, match="require_client_max_window_bits"):
        ServerPerMessageDeflateFactory(require_client_max_window_bits=True)


def test_server_factory_rejects_wbits_in_compress_settings() -> None:
    with pytest.raises(ValueError, match="wbits"):
        ServerPerMessageDeflateFactory(compress_settings={"wbits": 9})


@pytest.mark.parametrize(
    ("kwargs", "offer", "response", "expected"),
    [
        # (remote = client no takeover, local no takeover, remote bits, local bits)
        ({}, [], [], (False, False, 15, 15)),
        (
            {},
            [("server_no_context_takeover", None)],
            [("server_no_context_takeover", None)],
            (False, True, 15, 15),
        ),
        (
            {"server_no_context_takeover": True},
            [],
            [("server_no_context_takeover", None)],
            (False, True, 15, 15),
        ),
        (
            {},
            [("client_no_context_takeover", None)],
            [("client_no_context_takeover", None)],
            (True, False, 15, 15),
        ),
        (
            {"client_no_context_takeover": True},
            [],
            [("client_no_context_takeover", None)],
            (True, False, 15, 15),
        ),
        # server_max_window_bits: the smaller of what is asked and configured.
        (
            {},
            [("server_max_window_bits", "10")],
            [("server_max_window_bits", "10")],
            (False, False, 15, 10),
        ),
        (
            {"server_max_window_bits": 12},
            [("server_max_window_bits", "10")],
            [("server_max_window_bits", "10")],
            (False, False, 15, 10),
        ),
        (
            {"server_max_window_bits": 9},
            [("server_max_window_bits", "10")],
            [("server_max_window_bits", "9")],
            (False, False, 15, 9),
        ),
        (
            {"server_max_window_bits": 12},
            [],
            [("server_max_window_bits", "12")],
            (False, False, 15, 12),
        ),
        # client_max_window_bits: only if the offer names it.
        ({"client_max_window_bits": 10}, [], [], (False, False, 15, 15)),
        ({}, [("client_max_window_bits", None)], [], (False, False, 15, 15)),
        (
            {"client_max_window_bits": 10},
            [("client_max_window_bits", None)],
            [("client_max_window_bits", "10")],
            (False, False, 10, 15),
        ),
        (
            {},
            [("client_max_window_bits", "12")],
            [("client_max_window_bits", "12")],
            (False, False, 12, 15),
        ),
        (
            {"client_max_window_bits": 10},
            [("client_max_window_bits", "12")],
            [("client_max_window_bits", "10")],
            (False, False, 10, 15),
        ),
        (
            {"client_max_window_bits": 10},
            [("client_max_window_bits", "9")],
            [("client_max_window_bits", "9")],
            (False, False, 9, 15),
        ),
        (
            {"client_max_window_bits": 10, "require_client_max_window_bits": True},
            [("client_max_window_bits", None)],
            [("client_max_window_bits", "10")],
            (False, False, 10, 15),
        ),
        # Everything at once, in a different order.
        (
            {},
            [
                ("client_max_window_bits", "8"),
                ("server_max_window_bits", "8"),
                ("client_no_context_takeover", None),
                ("server_no_context_takeover", None),
            ],
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "8"),
                ("client_max_window_bits", "8"),
            ],
            (True, True, 8, 8),
        ),
    ],
)
def test_server_factory_accepts_offer(
    kwargs: dict[str, Any],
    offer: list[ExtensionParameter],
    response: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    factory = ServerPerMessageDeflateFactory(**kwargs)
    assert factory.name == "permessage-deflate"
    params, ext = factory.process_request_params(offer, [])
    assert params == response
    assert isinstance(ext, PerMessageDeflate)
    assert settings(ext) == expected


def test_server_factory_passes_compress_settings() -> None:
    factory = ServerPerMessageDeflateFactory(compress_settings={"level": 0})
    _, ext = factory.process_request_params([], [])
    assert ext.encode(Frame(Opcode.TEXT, b"Hello")).data == HELLO_STORED


def test_server_factory_declines_second_permessage_deflate() -> None:
    factory = ServerPerMessageDeflateFactory()
    with pytest.raises(NegotiationError, match="duplicate"):
        factory.process_request_params([], [extension()])


def test_server_factory_declines_offer_without_required_window() -> None:
    factory = ServerPerMessageDeflateFactory(
        client_max_window_bits=10, require_client_max_window_bits=True
    )
    with pytest.raises(NegotiationError, match="required client_max_window_bits"):
        factory.process_request_params([("server_max_window_bits", "10")], [])


@pytest.mark.parametrize(
    ("offer", "error"),
    [
        ([("foo", None)], InvalidParameterName),
        ([("server_no_context_takeover", "1")], InvalidParameterValue),
        ([("client_no_context_takeover", "1")], InvalidParameterValue),
        # RFC 7692 §7.1.2.1: server_max_window_bits always has a value.
        ([("server_max_window_bits", None)], InvalidParameterValue),
        *[
            ([(name, None), (name, None)], DuplicateParameter)
            for name in [
                "server_no_context_takeover",
                "client_no_context_takeover",
                "client_max_window_bits",
            ]
        ],
        ([("server_max_window_bits", "9"), ("server_max_window_bits", "9")], DuplicateParameter),
        *[
            ([(name, value)], InvalidParameterValue)
            for name in ["server_max_window_bits", "client_max_window_bits"]
            for value in BAD_WINDOW_BITS
            if value is not None
        ],
    ],
)
def test_server_factory_declines_malformed_offer(
    offer: list[ExtensionParameter], error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        ServerPerMessageDeflateFactory().process_request_params(offer, [])
    # The handshake declines this offer and tries the next one.
    assert isinstance(raised.value, NegotiationError)


# Defaults.


def test_default_compress_settings_are_read_only() -> None:
    assert dict(DEFAULT_COMPRESS_SETTINGS) == {"level": 1, "memLevel": 5}
    with pytest.raises(TypeError):
        DEFAULT_COMPRESS_SETTINGS["memLevel"] = 9  # type: ignore[index]


@pytest.mark.parametrize("extensions", [None, []])
def test_enable_client_permessage_deflate_adds_default(
    extensions: list[ClientExtensionFactory] | None,
) -> None:
    (factory,) = enable_client_permessage_deflate(extensions)
    assert isinstance(factory, ClientPerMessageDeflateFactory)
    assert factory.get_request_params() == [("client_max_window_bits", None)]
    assert factory.compress_settings == {"level": 1, "memLevel": 5}


def test_enable_client_permessage_deflate_appends_after_others() -> None:
    other = ClientExtensionFactory()
    other.name = "x-other"
    extensions = [other]
    result = enable_client_permessage_deflate(extensions)
    assert result[0] is other
    assert isinstance(result[1], ClientPerMessageDeflateFactory)
    assert extensions == [other]


def test_enable_client_permessage_deflate_keeps_existing() -> None:
    existing = ClientPerMessageDeflateFactory(client_max_window_bits=None)
    assert enable_client_permessage_deflate([existing]) == [existing]


@pytest.mark.parametrize("extensions", [None, []])
def test_enable_server_permessage_deflate_adds_default(
    extensions: list[ServerExtensionFactory] | None,
) -> None:
    (factory,) = enable_server_permessage_deflate(extensions)
    assert isinstance(factory, ServerPerMessageDeflateFactory)
    assert (factory.server_max_window_bits, factory.client_max_window_bits) == (12, 12)
    assert factory.compress_settings == {"level": 1, "memLevel": 5}


def test_enable_server_permessage_deflate_appends_after_others() -> None:
    other = ServerExtensionFactory()
    other.name = "x-other"
    extensions = [other]
    result = enable_server_permessage_deflate(extensions)
    assert result[0] is other
    assert isinstance(result[1], ServerPerMessageDeflateFactory)
    assert extensions == [other]


def test_enable_server_permessage_deflate_keeps_existing() -> None:
    existing = ServerPerMessageDeflateFactory()
    assert enable_server_permessage_deflate([existing]) == [existing]


def test_defaults_negotiate_with_each_other() -> None:
    (client_factory,) = enable_client_permessage_deflate(None)
    (server_factory,) = enable_server_permessage_deflate(None)
    assert isinstance(client_factory, ClientPerMessageDeflateFactory)
    assert isinstance(server_factory, ServerPerMessageDeflateFactory)
    client, server = negotiate(client_factory, server_factory)
    assert settings(client) == (False, False, 12, 12)
    assert settings(server) == (False, False, 12, 12)


# With the state machine: bytes in, events out.


def connected(max_size: int | None = MiB) -> tuple[Protocol, Protocol]:
    client_ext, server_ext = negotiate(
        ClientPerMessageDeflateFactory(), ServerPerMessageDeflateFactory()
    )
    client = Protocol(Side.CLIENT, max_size=max_size, extensions=[client_ext])
    server = Protocol(Side.SERVER, max_size=max_size, extensions=[server_ext])
    return client, server


def test_protocol_round_trip() -> None:
    client, server = connected()
    client.send_text(b"Hello", fin=False)
    client.send_continuation(b", world", fin=True)
    client.send_ping(b"ping")
    client.send_binary(b"Hello")
    for data in client.data_to_send():
        server.receive_data(data)
    assert server.events_received() == [
        "Hello, world",
        Frame(Opcode.PING, b"ping"),
        b"Hello",
    ]


def test_protocol_server_frames_match_rfc_examples() -> None:
    _, server = connected()
    server.send_text(b"Hello")
    server.send_text(b"Hello")
    # Unmasked server frames: RSV1 | FIN | TEXT, then the payload length.
    assert server.data_to_send() == [b"\xc1\x07" + HELLO, b"\xc1\x05" + HELLO_AGAIN]


def test_protocol_fails_decompression_bomb_with_1009() -> None:
    client, server = connected(max_size=MiB)
    client.send_binary(bytes(10 * MiB))
    for data in client.data_to_send():
        server.receive_data(data)
    (event,) = server.events_received()
    assert isinstance(event, Failure)
    assert event.code == 1009
    assert isinstance(event.exc, PayloadTooBig)


def test_protocol_fails_corrupt_data_with_1002() -> None:
    server = Protocol(Side.SERVER, extensions=[extension()])
    server.receive_data(serialize_frame(Opcode.TEXT, b"\xff\xff\xff", rsv1=True, mask=True))
    (event,) = server.events_received()
    assert isinstance(event, Failure)
    assert event.code == 1002
