"""Framing (Autobahn 1.x; RFC 6455 §5.2): payload lengths, length encodings, masking.

Every case runs against our server and our client (the ``role`` fixture).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from .peer import BINARY, CLOSE, CONT, PING, PONG, TEXT, Peer, RawFrame, close_payload, open_peer

# Each length sits on an edge of the 7-bit, 16-bit and 64-bit encodings.
LENGTHS = [0, 1, 125, 126, 127, 128, 65535, 65536, 65537]
MIB = 1 << 20


def payload_of(kind: str, length: int) -> str | bytes:
    """A text or binary message of ``length`` bytes; text mixes 1- to 4-byte characters."""
    if kind == "binary":
        return os.urandom(length)
    pattern = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    text = pattern * (length // 10) + "x" * (length % 10)
    assert len(text.encode()) == length
    return text


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_message_echoed(role: str, kind: str, length: int) -> None:
    """Autobahn 1.1.1-1.1.6, 1.2.1-1.2.6: one frame, one write."""
    message = payload_of(kind, length)
    with open_peer(role) as peer:
        peer.send_message(message)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_message_in_chops(role: str, kind: str, length: int) -> None:
    """Autobahn 1.1.7-1.1.8, 1.2.7-1.2.8: the frame arrives in many writes.

    Small frames go one byte per write; large ones in writes of 997 bytes, an
    odd size that never lines up with the header or a 4-byte mask.
    """
    message = payload_of(kind, length)
    with open_peer(role) as peer:
        peer.send(*peer.message(message), chunk=1 if length <= 128 else 997)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("length", [125, 126, 65536])
def test_header_split_at_every_byte(role: str, length: int) -> None:
    """The header (and masking key) arrives one byte at a time, each on its own."""
    message = os.urandom(length)
    with open_peer(role) as peer:
        frame = peer.message(message)[0]
        header_size = len(frame) - length
        peer.send(frame[:header_size], chunk=1, pause=1e-3)
        peer.send(frame[header_size:])
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_16_mib_message(role: str, kind: str) -> None:
    """Autobahn 9.1.6, 9.2.6: a 16 MiB frame, with no size limit."""
    message = payload_of(kind, 16 * MIB)
    with open_peer(role, max_size=None) as peer:
        peer.send_message(message)
        assert peer.recv_message() == message
        peer.closes_cleanly()


def test_messages_in_one_write_echoed_in_order(role: str) -> None:
    """Several frames in one TCP write are all processed, in order."""
    messages: list[str | bytes] = ["one", b"two", "", b"", "five" * 100]
    with open_peer(role) as peer:
        peer.send(*(frame for message in messages for frame in peer.message(message)))
        assert [peer.recv_message() for _ in messages] == messages
        peer.closes_cleanly()


# Frames that break the wire format: the connection fails with 1002.


def test_wrong_masking(role: str) -> None:
    """RFC 6455 §5.1: a server fails on an unmasked frame, a client on a masked one."""
    with open_peer(role) as peer:
        # Build the frame as the other role would: flip the mask bit and,
        # for our client, insert a masking key.
        frame = peer.frame(TEXT, b"hello")
        if role == "server":
            wrong = bytes([frame[0], frame[1] & 0x7F]) + frame[6:]  # key dropped, still masked
        else:
            wrong = bytes([frame[0], frame[1] | 0x80]) + b"\x00\x00\x00\x00" + frame[2:]
        peer.send(wrong)
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize(
    ("length", "length_field"),
    [
        (5, b"\x7e\x00\x05"),
        (5, b"\x7f" + (5).to_bytes(8, "big")),
        (126, b"\x7f" + (126).to_bytes(8, "big")),
        (65535, b"\x7f" + (65535).to_bytes(8, "big")),
    ],
    ids=["7-in-16", "7-in-64", "16-in-64", "16-max-in-64"],
)
def test_length_not_minimal(role: str, length: int, length_field: bytes) -> None:
    """RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".

    Our end fails such frames (Autobahn doesn't test this; receivers may accept them).
    """
    with open_peer(role) as peer:
        peer.send(peer.frame(BINARY, b"x" * length, length_field=length_field))
        assert peer.fails_with(1002) == []


def test_length_with_most_significant_bit(role: str) -> None:
    """RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0."""
    with open_peer(role) as peer:
        peer.send(peer.frame(BINARY, length_field=b"\x7f" + (1 << 63 | 1).to_bytes(8, "big")))
        assert peer.fails_with(1002) == []


def test_frames_in_handshake_write(role: str) -> None:
    """Frames in the same TCP write as the handshake response are processed.

    A server may send frames right after its 101 response. A client must
    wait for the response (RFC 6455 §4.1), but our server tolerates frames
    pipelined after the request.
    """
    with open_peer(role, early=[(PING, b"early ping"), (TEXT, b"early text")]) as peer:
        assert peer.recv_frame() == RawFrame(PONG, b"early ping")
        assert peer.recv_message() == "early text"
        peer.closes_cleanly()


def test_client_masking_keys_unpredictable() -> None:
    """RFC 6455 §5.3: a fresh, unpredictable masking key for each frame."""
    with open_peer("client") as peer:
        for i in range(20):
            peer.send_message(f"message {i}")
            assert peer.recv_message() == f"message {i}"
        peer.closes_cleanly()
    assert len(set(peer.mask_keys)) >= 19, peer.mask_keys


# Errors surface in stream order: whatever arrived before the bad bytes is
# delivered, and answered, before our end fails the connection.

BAD_FRAMES: dict[str, tuple[int, Callable[[Peer], bytes]]] = {
    "reserved-bit": (1002, lambda peer: peer.frame(TEXT, b"bad", rsv=2)),
    "reserved-opcode": (1002, lambda peer: peer.frame(0xB)),
    "stray-continuation": (1002, lambda peer: peer.frame(CONT, b"bad")),
    "fragmented-ping": (1002, lambda peer: peer.frame(PING, b"bad", fin=False)),
    "invalid-utf8": (1007, lambda peer: peer.frame(TEXT, b"\xff")),
    "too-big": (1009, lambda peer: peer.header(BINARY, 1 << 21)),
    "invalid-close-code": (1002, lambda peer: peer.frame(CLOSE, close_payload(1005))),
}


@pytest.mark.parametrize(("code", "bad_frame"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_errors_surface_in_stream_order(
    role: str, code: int, bad_frame: Callable[[Peer], bytes]
) -> None:
    """Three messages, a ping and a bad frame in one write: all answered, then the Close."""
    with open_peer(role) as peer:
        peer.send(
            *peer.message("one"),
            *peer.message(b"two", fragments=2),
            peer.frame(PING, b"ping"),
            *peer.message("three"),
            bad_frame(peer),
            peer.frame(PING, b"after"),
            *peer.message("after"),
        )
        frames = peer.fails_with(code)
        # The Pong goes out at once; the echoes follow as the application reads.
        assert frames == [
            RawFrame(PONG, b"ping"),
            RawFrame(TEXT, b"one"),
            RawFrame(BINARY, b"two"),
            RawFrame(TEXT, b"three"),
        ]
        assert peer.ours.received == ["one", b"two", "three"]
