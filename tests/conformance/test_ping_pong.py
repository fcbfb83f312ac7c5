"""Pings and pongs (Autobahn 2.x; RFC 6455 §5.5.2, §5.5.3).

Every case runs against our server and our client (the ``role`` fixture).
"""

from __future__ import annotations

import pytest

from .peer import PING, PONG, TEXT, RawFrame, Split, open_peer

PAYLOADS = {
    "empty": b"",  # 2.1
    "text": b"Hello, world!",  # 2.2
    "binary": bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF]),  # 2.3
    "invalid-utf8": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
    "124": bytes(range(124)),
    "125": b"\xfe" * 125,  # 2.4
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_ping_answered(role: str, payload: bytes) -> None:
    """Autobahn 2.1-2.4: a Pong with the same payload answers a Ping."""
    with open_peer(role) as peer:
        peer.send(peer.frame(PING, payload))
        assert peer.recv_frame() == RawFrame(PONG, payload)
        peer.closes_cleanly()


def test_ping_in_chops(role: str) -> None:
    """Autobahn 2.6: a 125-byte Ping arriving one byte per write."""
    payload = bytes(range(125))
    with open_peer(role) as peer:
        peer.send(peer.frame(PING, payload), split="octets")
        assert peer.recv_frame() == RawFrame(PONG, payload)
        peer.closes_cleanly()


@pytest.mark.parametrize("opcode", [PING, PONG], ids=["ping", "pong"])
def test_control_frame_too_long(role: str, opcode: int) -> None:
    """Autobahn 2.5: a control frame of 126 bytes fails with 1002 (RFC 6455 §5.5)."""
    with open_peer(role) as peer:
        peer.send(peer.frame(opcode, b"\x01" * 126))
        assert peer.fails_with(1002) == []


def test_control_frame_too_long_from_header(role: str) -> None:
    """The header of an oversized Ping is enough: its payload is never awaited."""
    with open_peer(role) as peer:
        peer.send(peer.header(PING, 126))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("payload", [b"", b"unsolicited"], ids=["empty", "payload"])
def test_unsolicited_pong_ignored(role: str, payload: bytes) -> None:
    """Autobahn 2.7, 2.8: an unsolicited Pong gets no answer (RFC 6455 §5.5.3)."""
    with open_peer(role) as peer:
        peer.send(peer.frame(PONG, payload), *peer.message("after"))
        assert peer.recv_frame() == RawFrame(TEXT, b"after")
        peer.closes_cleanly()


def test_unsolicited_pong_then_ping(role: str) -> None:
    """Autobahn 2.9: only the Ping is answered."""
    with open_peer(role) as peer:
        peer.send(peer.frame(PONG, b"unsolicited"), peer.frame(PING, b"ping"))
        assert peer.recv_frame() == RawFrame(PONG, b"ping")
        peer.closes_cleanly()


@pytest.mark.parametrize("split", ["write", "frames", "octets"])
def test_ten_pings_answered_in_order(role: str, split: Split) -> None:
    """Autobahn 2.10, 2.11: ten Pings in a row get ten Pongs, in order."""
    payloads = [f"ping {i}".encode() for i in range(10)]
    with open_peer(role) as peer:
        peer.send(*(peer.frame(PING, payload) for payload in payloads), split=split)
        assert [peer.recv_frame() for _ in payloads] == [RawFrame(PONG, p) for p in payloads]
        peer.closes_cleanly()


def test_ping_answered_before_later_message(role: str) -> None:
    """Pong and echo come out in the order of the frames that caused them."""
    with open_peer(role) as peer:
        peer.send(peer.frame(PING, b"first"), *peer.message("second"))
        assert peer.recv_frame() == RawFrame(PONG, b"first")
        assert peer.recv_message() == "second"
        peer.closes_cleanly()
