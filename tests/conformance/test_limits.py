"""Large messages and the size limit (Autobahn 9.x; RFC 6455 §10.4).

Without a limit (``max_size=None``) messages up to 16 MiB go through, in one
frame or in fragments. With a limit, a message that exceeds it fails the
connection with 1009 as soon as a frame header announces too much: our end
neither buffers nor waits for the rest. Every case runs against our server
and our client (the ``role`` fixture).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from .peer import BINARY, CONT, TEXT, RawFrame, open_peer

KIB, MIB = 1 << 10, 1 << 20


def big_message(kind: str, size: int) -> str | bytes:
    """``size`` bytes of text (hex digits) or random binary."""
    return os.urandom(size // 2).hex() if kind == "text" else os.urandom(size)


@pytest.mark.parametrize(
    "size", [64 * KIB, 256 * KIB, MIB, 4 * MIB], ids=["64k", "256k", "1m", "4m"]
)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_large_message_in_one_frame(role: str, kind: str, size: int) -> None:
    """Autobahn 9.1.1-9.1.5, 9.2.1-9.2.5 (16 MiB is in test_framing)."""
    message = big_message(kind, size)
    with open_peer(role, max_size=None) as peer:
        peer.send_message(message)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize(
    "fragment", [256, 4 * KIB, 64 * KIB, MIB, 4 * MIB], ids=["256", "4k", "64k", "1m", "4m"]
)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_4_mib_in_fragments(role: str, kind: str, fragment: int) -> None:
    """Autobahn 9.3.x, 9.4.x (64-byte fragments are in test_fragmentation)."""
    message = big_message(kind, 4 * MIB)
    with open_peer(role, max_size=None) as peer:
        peer.send_message(message, fragments=fragment)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_16_mib_in_fragments(role: str, kind: str) -> None:
    message = big_message(kind, 16 * MIB)
    with open_peer(role, max_size=None) as peer:
        peer.send_message(message, fragments=MIB)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("chop", [64, 4 * KIB, 64 * KIB], ids=["64", "4k", "64k"])
def test_1_mib_in_chops(role: str, chop: int) -> None:
    """Autobahn 9.5.x, 9.6.x: one frame of 1 MiB arriving in many writes."""
    message = os.urandom(MIB)
    with open_peer(role, max_size=None) as peer:
        peer.send(*peer.message(message), chunk=chop)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("size", [0, 16, 1024], ids=["0", "16", "1k"])
def test_many_messages(role: str, size: int) -> None:
    """Autobahn 9.7.x, 9.8.x: 1000 messages in one write, echoed in order.

    The write is far more than max_queue (16) messages: backpressure pauses
    reading, never drops a message.
    """
    messages = [os.urandom(size) for _ in range(1000)]
    with open_peer(role) as peer:
        peer.send(*(peer.frame(BINARY, message) for message in messages))
        assert [peer.recv_message() for _ in messages] == messages
        peer.closes_cleanly()


# The limit.


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_message_at_limit(role: str, kind: str) -> None:
    """A message of exactly max_size bytes is accepted."""
    message = big_message(kind, 4 * KIB)
    with open_peer(role, max_size=4 * KIB) as peer:
        peer.send_message(message)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_fragmented_message_at_limit(role: str, kind: str) -> None:
    """Fragments that add up to exactly max_size are accepted."""
    message = big_message(kind, 4 * KIB)
    with open_peer(role, max_size=4 * KIB) as peer:
        peer.send_message(message, fragments=[KIB, 0, 2 * KIB, KIB - 1, 1, 0])
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize(("max_size", "length"), [(None, MIB + 1), (4 * KIB, 4 * KIB + 1)])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_frame_over_limit_from_header(
    role: str, opcode: int, max_size: int | None, length: int
) -> None:
    """The header of a frame over max_size is enough for 1009; no payload is sent.

    ``None`` here means the default limit, 1 MiB.
    """
    options: dict[str, Any] = {} if max_size is None else {"max_size": max_size}
    with open_peer(role, **options) as peer:
        peer.send(peer.header(opcode, length))
        assert peer.fails_with(1009) == []


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_huge_frame_from_header(role: str, opcode: int) -> None:
    """A header announcing 2**63 - 1 bytes fails at once, without allocating."""
    with open_peer(role) as peer:
        peer.send(peer.frame(opcode, length_field=b"\x7f" + (2**63 - 1).to_bytes(8, "big")))
        assert peer.fails_with(1009) == []


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_fragmented_message_over_limit(role: str, opcode: int) -> None:
    """Fragments within the limit add up past it: 1009 at the header of the one that crosses."""
    with open_peer(role, max_size=4 * KIB) as peer:
        peer.send(
            peer.frame(opcode, b"a" * KIB, fin=False),
            peer.frame(CONT, b"b" * KIB, fin=False),
            peer.frame(CONT, b"c" * KIB, fin=False),
            peer.frame(CONT, b"d" * (KIB - 1), fin=False),
            peer.header(CONT, 2),
        )
        assert peer.fails_with(1009) == []


def test_fragmented_message_over_limit_after_valid_message(role: str) -> None:
    """Errors surface in stream order: the message before is echoed, then 1009."""
    with open_peer(role, max_size=4 * KIB) as peer:
        peer.send(
            *peer.message("valid"),
            peer.frame(BINARY, b"a" * (2 * KIB), fin=False),
            peer.frame(CONT, b"b" * (2 * KIB), fin=False),
            peer.header(CONT, 1, fin=True),
        )
        assert peer.fails_with(1009) == [RawFrame(TEXT, b"valid")]
