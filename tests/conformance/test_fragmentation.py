"""Fragmentation (Autobahn 5.x; RFC 6455 §5.4, §5.5).

Every case runs against our server and our client (the ``role`` fixture).
"""

from __future__ import annotations

import os
import time

import pytest

from .peer import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawFrame, Split, open_peer

SPLITS: list[Split] = ["write", "frames", "octets"]
# 25 bytes each; cuts at 12 and 14 fall inside "κ" and "ό", and "each-byte" cuts "😀" too.
TEXT_MESSAGE = "fragmented κόσμε😀"
BINARY_MESSAGE = bytes(range(25))


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("fragments", [[12, 13], [1, 13, 11], 1], ids=["two", "three", "each-byte"])
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_fragmented_message_echoed(
    role: str, kind: str, fragments: list[int] | int, split: Split
) -> None:
    """Autobahn 5.3-5.5: a fragmented message is delivered whole."""
    message: str | bytes = TEXT_MESSAGE if kind == "text" else BINARY_MESSAGE
    with open_peer(role) as peer:
        peer.send(*peer.message(message, fragments=fragments), split=split)
        assert peer.recv_message() == message
        assert peer.ours.received == [message]
        peer.closes_cleanly()


@pytest.mark.parametrize(
    "pieces",
    [[b"", b"", b"abc"], [b"abc", b"", b""], [b"a", b"", b"bc"], [b"", b""], [b""] * 10],
    ids=["empty-first", "empty-last", "empty-middle", "all-empty", "ten-empty"],
)
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_empty_fragments(role: str, opcode: int, pieces: list[bytes]) -> None:
    """Autobahn 6.1.2-6.1.3: empty fragments anywhere in a message."""
    expected: str | bytes = b"".join(pieces)
    if opcode == TEXT:
        expected = b"".join(pieces).decode()
    with open_peer(role) as peer:
        frames = [
            peer.frame(opcode if i == 0 else CONT, piece, fin=i == len(pieces) - 1)
            for i, piece in enumerate(pieces)
        ]
        peer.send(*frames)
        assert peer.recv_message() == expected
        peer.closes_cleanly()


@pytest.mark.parametrize("split", SPLITS)
def test_ping_between_fragments(role: str, split: Split) -> None:
    """Autobahn 5.6-5.8: a Ping between two fragments is answered; the message is whole."""
    with open_peer(role) as peer:
        peer.send(
            peer.frame(TEXT, b"frag", fin=False),
            peer.frame(PING, b"between"),
            peer.frame(CONT, b"ment"),
            split=split,
        )
        assert peer.recv_frame() == RawFrame(PONG, b"between")
        assert peer.recv_message() == "fragment"
        peer.closes_cleanly()


def test_pong_between_fragments(role: str) -> None:
    """An unsolicited Pong between fragments is ignored."""
    with open_peer(role) as peer:
        peer.send(
            peer.frame(BINARY, b"frag", fin=False),
            peer.frame(PONG, b"between"),
            peer.frame(CONT, b"ment", fin=False),
            peer.frame(PONG),
            peer.frame(CONT, b"!"),
        )
        assert peer.recv_message() == b"fragment!"
        peer.closes_cleanly()


@pytest.mark.parametrize("split", ["write", "frames"])
def test_ping_between_fragments_answered_at_once(role: str, split: Split) -> None:
    """Autobahn 5.19, 5.20: Pongs come while the message is still incomplete.

    The peer holds back the rest of the message until each Pong arrives.
    """
    with open_peer(role) as peer:
        peer.send(
            peer.frame(TEXT, b"fragment1", fin=False),
            peer.frame(CONT, b"fragment2", fin=False),
            peer.frame(PING, b"pongme 1!"),
            split=split,
        )
        assert peer.recv_frame() == RawFrame(PONG, b"pongme 1!")
        peer.send(
            peer.frame(CONT, b"fragment3", fin=False),
            peer.frame(CONT, b"fragment4", fin=False),
            peer.frame(PING, b"pongme 2!"),
            split=split,
        )
        assert peer.recv_frame() == RawFrame(PONG, b"pongme 2!")
        peer.send(peer.frame(CONT, b"fragment5"))
        assert peer.recv_message() == "fragment1fragment2fragment3fragment4fragment5"
        peer.closes_cleanly()


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("fin", [True, False], ids=["fin", "nofin"])
def test_continuation_without_start(role: str, fin: bool, split: Split) -> None:
    """Autobahn 5.9-5.14: a continuation frame with nothing to continue, then a message."""
    with open_peer(role) as peer:
        peer.send(
            peer.frame(CONT, b"non-continuation payload", fin=fin),
            *peer.message("Hello, world!"),
            split=split,
        )
        assert peer.fails_with(1002) == []
        assert peer.ours.received == []


def test_continuation_after_finished_message(role: str) -> None:
    """Autobahn 5.15: the first message is echoed, then the stray continuation fails."""
    with open_peer(role) as peer:
        peer.send(
            peer.frame(TEXT, b"fragment1", fin=False),
            peer.frame(CONT, b"fragment2"),
            peer.frame(CONT, b"fragment3", fin=False),
            peer.frame(TEXT, b"fragment4"),
        )
        assert peer.fails_with(1002) == [RawFrame(TEXT, b"fragment1fragment2")]


@pytest.mark.parametrize("fin", [True, False], ids=["fin", "nofin"])
def test_repeated_continuation_then_message(role: str, fin: bool) -> None:
    """Autobahn 5.16, 5.17: (stray continuation, text in two fragments) twice."""
    with open_peer(role) as peer:
        frames = [
            peer.frame(CONT, b"fragment1", fin=fin),
            peer.frame(TEXT, b"fragment2", fin=False),
            peer.frame(CONT, b"fragment3"),
        ]
        peer.send(*frames, *frames)
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize(
    ("opcode", "fin"),
    [(TEXT, True), (TEXT, False), (BINARY, True), (BINARY, False)],
    ids=["text", "text-nofin", "binary", "binary-nofin"],
)
@pytest.mark.parametrize("first", [TEXT, BINARY], ids=["after-text", "after-binary"])
def test_new_message_before_end(role: str, first: int, opcode: int, fin: bool) -> None:
    """Autobahn 5.18: a data frame that isn't a continuation while a message is open."""
    with open_peer(role) as peer:
        peer.send(peer.frame(first, b"fragment1", fin=False), peer.frame(opcode, b"x", fin=fin))
        assert peer.fails_with(1002) == []
        assert peer.ours.received == []


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE], ids=["ping", "pong", "close"])
def test_fragmented_control_frame(role: str, opcode: int) -> None:
    """Autobahn 5.1, 5.2: control frames MUST NOT be fragmented (RFC 6455 §5.5)."""
    with open_peer(role) as peer:
        payload = b"\x03\xe8" if opcode == CLOSE else b"fragment1"
        peer.send(peer.frame(opcode, payload, fin=False), peer.frame(CONT, b"fragment2"))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE], ids=["ping", "pong", "close"])
def test_fragmented_control_frame_inside_message(role: str, opcode: int) -> None:
    with open_peer(role) as peer:
        payload = b"\x03\xe8" if opcode == CLOSE else b"control"
        peer.send(
            peer.frame(TEXT, b"fragment1", fin=False),
            peer.frame(opcode, payload, fin=False),
            peer.frame(CONT, b"fragment2"),
        )
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("code", [1000, 1001, 3000])
def test_close_inside_fragmented_message(role: str, code: int) -> None:
    """A Close frame between fragments is a normal closing handshake (RFC 6455 §5.4, §5.5.1).

    Control frames may come between fragments; the unfinished message is
    dropped, and the frames after the Close are ignored.
    """
    payload = code.to_bytes(2, "big") + b"bye"
    with open_peer(role) as peer:
        peer.send(
            peer.frame(TEXT, b"fragment1", fin=False),
            peer.frame(CLOSE, payload),
            peer.frame(CONT, b"fragment2"),
        )
        assert peer.close_answered(payload) == []
        assert peer.ours.received == []


def test_4_mib_in_64_byte_fragments(role: str) -> None:
    """Autobahn 9.3.1: 65536 fragments of 64 bytes arrive whole, in linear time."""
    message = os.urandom(2 * 1024 * 1024).hex()  # 4 MiB of text
    with open_peer(role, max_size=None) as peer:
        frames = peer.message(message, fragments=64)
        start = time.monotonic()
        peer.send(*frames)
        assert peer.recv_message(timeout=30) == message
        elapsed = time.monotonic() - start
        peer.closes_cleanly()
    # Quadratic reassembly would copy terabytes; linear takes well under a second.
    assert elapsed < 5.0, f"took {elapsed:.1f} s"
