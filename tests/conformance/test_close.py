"""The closing handshake (Autobahn 7.x; RFC 6455 §5.5.1, §7).

Our end echoes the peer's Close frame (same code and reason) and, as a
server, closes the TCP connection right after; as a client, it waits for the
server to do so (RFC 6455 §7.1.1). Every case runs against our server and our
client (the ``role`` fixture).
"""

from __future__ import annotations

import socket

import pytest

from websockets_sync import ConnectionClosedError

from ..utils import MS
from .peer import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawFrame, Split, close_payload, open_peer

# RFC 6455 §7.4.1 and the IANA registry: codes a peer may send.
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
VALID_CODES += [3000, 3999, 4000, 4999]
# Reserved (1004), for local use only (1005, 1006, 1015), unassigned, or out of range.
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_code_echoed(role: str, code: int) -> None:
    """Autobahn 7.7.x: a valid code is echoed and the connection closes cleanly."""
    with open_peer(role) as peer:
        assert peer.closes_cleanly(close_payload(code)) == []


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_code(role: str, code: int) -> None:
    """Autobahn 7.9.x, 7.13.x: an invalid code fails the connection with 1002."""
    with open_peer(role) as peer:
        peer.send(peer.frame(CLOSE, close_payload(code)))
        assert peer.fails_with(1002) == []


def test_empty_close_echoed(role: str) -> None:
    """Autobahn 7.3.1: a Close frame without payload is answered by one without payload."""
    with open_peer(role) as peer:
        assert peer.closes_cleanly(close_payload(None)) == []
        assert peer.ours.connection.close_code == 1005


@pytest.mark.parametrize(
    "reason",
    [b"Hello World!", b"x" * 123, "é".encode() * 61 + b"x", "😀".encode() * 30 + b"abc"],
    ids=["short", "123-ascii", "123-2-byte", "123-4-byte"],
)
def test_reason(role: str, reason: bytes) -> None:
    """Autobahn 7.3.3-7.3.5: a reason up to 123 bytes, the most that fits (RFC 6455 §5.5)."""
    with open_peer(role) as peer:
        assert peer.closes_cleanly(close_payload(1000, reason)) == []
        assert peer.ours.connection.close_reason == reason.decode()


def test_reason_too_long(role: str) -> None:
    """Autobahn 7.3.6: 124 bytes of reason make a 126-byte control frame: 1002."""
    with open_peer(role) as peer:
        peer.send(peer.frame(CLOSE, close_payload(1000, b"x" * 124)))
        assert peer.fails_with(1002) == []


def test_payload_of_one_byte(role: str) -> None:
    """Autobahn 7.3.2: a close payload of one byte can't hold a code: 1002."""
    with open_peer(role) as peer:
        peer.send(peer.frame(CLOSE, b"\x03"))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize(
    "reason",
    [b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", b"\xff", b"ok\xe2\x82"],
    ids=["surrogate", "impossible", "truncated"],
)
def test_reason_invalid_utf8(role: str, reason: bytes) -> None:
    """Autobahn 7.5.1: the reason must be UTF-8 (RFC 6455 §5.5.1): 1007."""
    with open_peer(role) as peer:
        peer.send(peer.frame(CLOSE, close_payload(1000, reason)))
        assert peer.fails_with(1007) == []


def test_message_then_close(role: str) -> None:
    """Autobahn 7.1.1: a message is echoed, then the connection closes cleanly."""
    with open_peer(role) as peer:
        peer.send_message("Hello World!")
        assert peer.recv_message() == "Hello World!"
        assert peer.closes_cleanly() == []


def test_message_and_close_in_one_write(role: str) -> None:
    """Autobahn 7.1.1 with both frames in one write.

    Our reader answers the Close frame at once (RFC 6455 §5.5.1: "as soon as
    practical"), so the application receives the message but can't echo it
    any more: Autobahn's NON-STRICT outcome.
    """
    with open_peer(role) as peer:
        peer.send(*peer.message("Hello World!"), peer.frame(CLOSE, close_payload(1000)))
        assert peer.close_answered(close_payload(1000)) in ([], [RawFrame(TEXT, b"Hello World!")])
        assert peer.ours.received == ["Hello World!"]


def test_close_twice(role: str) -> None:
    """Autobahn 7.1.2: the second Close frame is ignored; one Close is sent."""
    with open_peer(role) as peer:
        peer.send(peer.frame(CLOSE, close_payload(1000)), peer.frame(CLOSE, close_payload(1001)))
        assert peer.close_answered(close_payload(1000)) == []


@pytest.mark.parametrize("split", ["write", "frames"])
def test_frames_after_close_ignored(role: str, split: Split) -> None:
    """Autobahn 7.1.3, 7.1.4: nothing after the peer's Close frame is processed.

    No Pong answers the Ping, no message reaches the application, and our
    end sends nothing after its Close frame.
    """
    with open_peer(role) as peer:
        try:
            peer.send(
                peer.frame(CLOSE, close_payload(1000)),
                peer.frame(PING, b"ping"),
                *peer.message("text"),
                peer.frame(BINARY, b"binary", fin=False),
                peer.frame(CONT, b"continued"),
                peer.frame(PONG),
                peer.frame(0x3),  # even a reserved opcode: it isn't parsed
                split=split,
            )
        except (BrokenPipeError, ConnectionResetError):
            # §7.1.1: our server closes the TCP connection as soon as it has
            # answered the Close frame, so later writes may find it gone.
            assert role == "server" and split != "write"
        assert peer.close_answered(close_payload(1000)) == []
        assert peer.ours.received == []


@pytest.mark.parametrize("split", ["write", "frames"])
def test_close_between_fragments(role: str, split: Split) -> None:
    """Autobahn 7.1.5: fragment, Close, last fragment: a normal close, the message dropped."""
    with open_peer(role) as peer:
        peer.send(
            peer.frame(TEXT, b"fragment1", fin=False),
            peer.frame(CLOSE, close_payload(1000)),
            peer.frame(CONT, b"fragment2"),
            split=split,
        )
        assert peer.close_answered(close_payload(1000)) == []
        assert peer.ours.received == []


def test_client_waits_for_server_to_close_tcp() -> None:
    """RFC 6455 §7.1.1: after the closing handshake, the server closes TCP first.

    Our client keeps the TCP connection open until the server closes it.
    """
    with open_peer("client") as peer:
        peer.send(peer.frame(CLOSE, close_payload(1000)))
        frames, echo = peer.read_to_close()
        assert (frames, echo) == ([], close_payload(1000))
        peer.sock.settimeout(50 * MS)
        with pytest.raises(TimeoutError):
            peer.sock.recv(1)
        assert not peer.ours.done.is_set()
        peer.sock.close()
        peer.ours.wait()
        assert peer.ours.connection.close_code == 1000


def test_tcp_closed_without_close_frame(role: str) -> None:
    """RFC 6455 §7.1.5: a connection closed without a Close frame reports 1006."""
    with open_peer(role) as peer:
        peer.send(peer.frame(TEXT, b"unfinished")[:5])
        peer.sock.close()
        peer.ours.wait()
        assert peer.ours.connection.close_code == 1006
        assert isinstance(peer.ours.exception, ConnectionClosedError)
        assert peer.ours.received == []


def test_server_closes_tcp_right_after_close() -> None:
    """A server may close TCP right after its Close frame: our client closes cleanly."""
    with open_peer("client") as peer:
        peer.send(peer.frame(CLOSE, close_payload(1001, b"going away")))
        peer.sock.shutdown(socket.SHUT_WR)
        frames, echo = peer.read_to_close()
        assert (frames, echo) == ([], close_payload(1001, b"going away"))
        peer.sock.close()
        peer.ours.wait()
        assert peer.ours.connection.close_code == 1001
        assert peer.ours.exception is None
