"""UTF-8 handling (Autobahn 6.x; RFC 6455 §5.6, §8.1; RFC 3629).

Text messages must be valid UTF-8: anything else fails the connection with
1007, at the first fragment that proves the message invalid (fail fast).
Every case runs against our server and our client (the ``role`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .peer import BINARY, CONT, TEXT, Peer, RawFrame, open_peer

VALID = {
    "kosme": "κόσμε".encode(),  # 6.2.1
    "nul": b"\x00",
    "del": b"\x7f",
    "first-2-byte": b"\xc2\x80",  # 6.7.2: U+0080
    "first-3-byte": b"\xe0\xa0\x80",  # 6.7.3: U+0800
    "first-4-byte": b"\xf0\x90\x80\x80",  # 6.7.4: U+10000
    "last-2-byte": b"\xdf\xbf",  # 6.9.2: U+07FF
    "last-3-byte": b"\xef\xbf\xbf",  # 6.9.3: U+FFFF
    "last-4-byte": b"\xf4\x8f\xbf\xbf",  # 6.9.4: U+10FFFF
    "before-surrogates": b"\xed\x9f\xbf",  # 6.11.1: U+D7FF
    "after-surrogates": b"\xee\x80\x80",  # 6.11.2: U+E000
    "replacement": b"\xef\xbf\xbd",  # 6.11.3: U+FFFD
    "nonchar-fffe": b"\xef\xbf\xbe",  # 6.22: noncharacters are valid
    "nonchar-fdd0": b"\xef\xb7\x90",
    "nonchar-1fffe": b"\xf0\x9f\xbf\xbe",
    "nonchar-10fffe": b"\xf4\x8f\xbf\xbe",
    "bom": b"\xef\xbb\xbf",
    "emoji": "😀".encode(),
}

INVALID = {
    "kosme-surrogate": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # 6.3.1
    # Code points above U+10FFFF (6.8, 6.10).
    "u110000": b"\xf4\x90\x80\x80",
    "u13ffff": b"\xf4\xbf\xbf\xbf",
    "f5": b"\xf5\x80\x80\x80",
    "u1fffff": b"\xf7\xbf\xbf\xbf",
    "5-byte": b"\xf8\x88\x80\x80\x80",
    "6-byte": b"\xfc\x84\x80\x80\x80\x80",
    "5-byte-max": b"\xfb\xbf\xbf\xbf\xbf",
    "6-byte-max": b"\xfd\xbf\xbf\xbf\xbf\xbf",
    # Unexpected continuation bytes (6.12).
    "cont-80": b"\x80",
    "cont-bf": b"\xbf",
    "cont-80bf": b"\x80\xbf",
    "cont-80bf80": b"\x80\xbf\x80",
    "cont-all": bytes(range(0x80, 0xC0)),
    # Start bytes followed by a space (6.13).
    "lonely-c0": b"\xc0 ",
    "lonely-c2": b"\xc2 ",
    "lonely-e0": b"\xe0 ",
    "lonely-f0": b"\xf0 ",
    "lonely-f8": b"\xf8 ",
    "lonely-fc": b"\xfc ",
    # Sequences missing their last continuation byte, followed by more (6.14, 6.15).
    "missing-c0": b"\xc0",
    "missing-e080": b"\xe0\x80",
    "missing-f08080": b"\xf0\x80\x80",
    "missing-df": b"\xdf!",
    "missing-efbf": b"\xef\xbf!",
    "missing-f7bfbf": b"\xf7\xbf\xbf",
    "concatenated-incomplete": (
        b"\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80"
        b"\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf"
    ),
    # Impossible bytes (6.16).
    "fe": b"\xfe",
    "ff": b"\xff",
    "fefeffff": b"\xfe\xfe\xff\xff",
    # Overlong forms (6.17-6.19).
    "overlong-slash-2": b"\xc0\xaf",
    "overlong-slash-3": b"\xe0\x80\xaf",
    "overlong-slash-4": b"\xf0\x80\x80\xaf",
    "overlong-slash-5": b"\xf8\x80\x80\x80\xaf",
    "overlong-slash-6": b"\xfc\x80\x80\x80\x80\xaf",
    "overlong-max-2": b"\xc1\xbf",
    "overlong-max-3": b"\xe0\x9f\xbf",
    "overlong-max-4": b"\xf0\x8f\xbf\xbf",
    "overlong-nul-2": b"\xc0\x80",
    "overlong-nul-3": b"\xe0\x80\x80",
    "overlong-nul-4": b"\xf0\x80\x80\x80",
    # UTF-16 surrogates, single and paired (6.20, 6.21).
    "surrogate-d800": b"\xed\xa0\x80",
    "surrogate-db7f": b"\xed\xad\xbf",
    "surrogate-db80": b"\xed\xae\x80",
    "surrogate-dbff": b"\xed\xaf\xbf",
    "surrogate-dc00": b"\xed\xb0\x80",
    "surrogate-df80": b"\xed\xbe\x80",
    "surrogate-dfff": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\x80\xed\xb0\x80",
    "surrogate-pair-max": b"\xed\xaf\xbf\xed\xbf\xbf",
}

# Multi-byte neighbours, so that "fragment-per-byte" cuts valid characters too.
PREFIX, SUFFIX = "aκ".encode(), "ό!".encode()

# Each layout puts the sequence somewhere in a message and cuts the message
# into fragments: (message bytes, fragments as lists of byte slices).
Layout = Callable[[bytes], list[bytes]]
LAYOUTS: dict[str, Layout] = {
    "alone": lambda seq: [seq],
    "middle": lambda seq: [PREFIX + seq + SUFFIX],
    "end": lambda seq: [PREFIX + seq],
    "fragment-per-byte": lambda seq: [bytes([b]) for b in PREFIX + seq + SUFFIX],
    "own-fragment": lambda seq: [PREFIX, seq, SUFFIX],
    "cut-inside": lambda seq: [PREFIX + seq[: len(seq) // 2 or 1], seq[len(seq) // 2 or 1 :]],
}


def text_frames(peer: Peer, pieces: list[bytes]) -> list[bytes]:
    """A text message cut into the given pieces, one frame each."""
    return [
        peer.frame(TEXT if i == 0 else CONT, piece, fin=i == len(pieces) - 1)
        for i, piece in enumerate(pieces)
    ]


@pytest.mark.parametrize("layout", LAYOUTS.keys())
@pytest.mark.parametrize("sequence", VALID.values(), ids=VALID.keys())
def test_valid(role: str, sequence: bytes, layout: str) -> None:
    """Autobahn 6.2, 6.5, 6.6.x (valid parts), 6.7, 6.9, 6.11, 6.22, 6.23: echoed."""
    pieces = LAYOUTS[layout](sequence)
    message = b"".join(pieces).decode()
    with open_peer(role) as peer:
        peer.send(*text_frames(peer, pieces))
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("layout", LAYOUTS.keys())
@pytest.mark.parametrize("sequence", INVALID.values(), ids=INVALID.keys())
def test_invalid(role: str, sequence: bytes, layout: str) -> None:
    """Autobahn 6.3, 6.6-6.8, 6.10, 6.12-6.21: the connection fails with 1007."""
    pieces = LAYOUTS[layout](sequence)
    with pytest.raises(UnicodeDecodeError):
        b"".join(pieces).decode()
    with open_peer(role) as peer:
        peer.send(*text_frames(peer, pieces))
        assert peer.fails_with(1007) == []
        assert peer.ours.received == []


@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
def test_chopped_octet_wise(role: str, valid: bool) -> None:
    """Autobahn 6.2.3, 6.2.4, 6.3.2: one frame arriving one byte per write."""
    payload = VALID["kosme"] * 3 if valid else INVALID["kosme-surrogate"]
    with open_peer(role) as peer:
        peer.send(peer.frame(TEXT, payload), split="octets")
        if valid:
            assert peer.recv_message() == payload.decode()
            peer.closes_cleanly()
        else:
            assert peer.fails_with(1007) == []


TRUNCATED = {
    "2-byte": "é".encode()[:1],
    "3-byte-1": "€".encode()[:1],
    "3-byte-2": "€".encode()[:2],
    "4-byte-1": "😀".encode()[:1],
    "4-byte-3": "😀".encode()[:3],
}


@pytest.mark.parametrize("fragments", ["one-frame", "last-fragment", "then-empty-fragment"])
@pytest.mark.parametrize("truncated", TRUNCATED.values(), ids=TRUNCATED.keys())
def test_truncated_at_message_end(role: str, truncated: bytes, fragments: str) -> None:
    """Autobahn 6.6.x, 6.14: a valid beginning of a sequence that the message never completes.

    Each fragment alone is a valid prefix; only the end of the message makes it invalid.
    """
    payload = "κόσμε".encode() + truncated
    pieces = {
        "one-frame": [payload],
        "last-fragment": [payload[:4], payload[4:]],
        "then-empty-fragment": [payload, b""],
    }[fragments]
    with open_peer(role) as peer:
        peer.send(*text_frames(peer, pieces))
        assert peer.fails_with(1007) == []


FAIL_FAST = {
    # Autobahn 6.4.1: the invalid code point whole in the second fragment.
    "6.4.1": ["κόσμε".encode(), b"\xf4\x90\x80\x80", b"edited"],
    # Autobahn 6.4.2: the first fragment ends with a valid start byte; the
    # second fragment's one byte makes it invalid.
    "6.4.2": ["κόσμε".encode() + b"\xf4", b"\x90", b"\x80\x80edited"],
    "surrogate": ["κόσμε".encode(), b"\xed\xa0\x80", b"edited"],
    "overlong": [b"valid", b"\xc0\xaf", b"edited"],
    "impossible": [b"valid", b"\xff", b"edited"],
    "continuation": [b"valid", b"\x80", b"edited"],
    "first-fragment": [b"\xff", b"edited"],
}


@pytest.mark.parametrize("pieces", FAIL_FAST.values(), ids=FAIL_FAST.keys())
def test_fail_fast(role: str, pieces: list[bytes]) -> None:
    """Autobahn 6.4.1, 6.4.2: the connection fails at the fragment with the invalid byte.

    The peer sends every fragment up to that one, then waits for our Close
    frame (1007) while it still holds the rest of the message (RFC 6455 §8.1).
    """
    with open_peer(role) as peer:
        frames = text_frames(peer, pieces)
        peer.send(*frames[:-1], split="frames")
        assert peer.fails_with(1007) == []


@pytest.mark.parametrize("name", ["6.4.1", "6.4.2"], ids=["6.4.3", "6.4.4"])
def test_fail_in_one_frame_in_chops(role: str, name: str) -> None:
    """Autobahn 6.4.3, 6.4.4: one frame in three chops, the second one invalid.

    Our end checks a single-frame message once the frame is complete, so it
    fails when the last chop arrives rather than at the second one:
    Autobahn's NON-STRICT outcome. RFC 6455 §8.1 doesn't require failing
    before the frame ends.
    """
    pieces = FAIL_FAST[name]
    with open_peer(role) as peer:
        frame = peer.frame(TEXT, b"".join(pieces))
        cut1 = len(frame) - len(pieces[1]) - len(pieces[2])
        cut2 = cut1 + len(pieces[1])
        peer.send(frame[:cut1], frame[cut1:cut2], frame[cut2:], split="frames")
        assert peer.fails_with(1007) == []


def test_invalid_after_valid_message(role: str) -> None:
    """Errors surface in stream order: the valid message is echoed before the Close frame."""
    with open_peer(role) as peer:
        peer.send(*peer.message("valid"), peer.frame(TEXT, b"\xff"))
        assert peer.fails_with(1007) == [RawFrame(TEXT, b"valid")]


def test_invalid_fragment_after_valid_message(role: str) -> None:
    with open_peer(role) as peer:
        peer.send(
            *peer.message("valid"),
            peer.frame(TEXT, b"still ", fin=False),
            peer.frame(CONT, b"\xed\xbf\xbf", fin=False),
        )
        assert peer.fails_with(1007) == [RawFrame(TEXT, b"valid")]


def test_binary_not_validated(role: str) -> None:
    """Only text is UTF-8: binary messages carry any bytes."""
    payload = b"".join(INVALID.values())
    with open_peer(role) as peer:
        peer.send(peer.frame(BINARY, payload[:100], fin=False), peer.frame(CONT, payload[100:]))
        assert peer.recv_message() == payload
        peer.closes_cleanly()
