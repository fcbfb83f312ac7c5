"""Reserved opcodes (Autobahn 4.x; RFC 6455 §5.2).

Non-control opcodes 0x3-0x7 and control opcodes 0xB-0xF are reserved: a frame
with one of them fails the connection with 1002. Every case runs against our
server and our client (the ``role`` fixture).
"""

from __future__ import annotations

import pytest

from .peer import PING, TEXT, RawFrame, Split, open_peer

RESERVED = [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF]
SPLITS: list[Split] = ["write", "frames", "octets"]


@pytest.mark.parametrize("payload", [b"", b"reserved opcode"], ids=["empty", "payload"])
@pytest.mark.parametrize("opcode", RESERVED, ids=hex)
def test_reserved_opcode(role: str, opcode: int, payload: bytes) -> None:
    """Autobahn 4.1.1, 4.1.2, 4.2.1, 4.2.2."""
    with open_peer(role) as peer:
        peer.send(peer.frame(opcode, payload))
        assert peer.fails_with(1002) == []


def test_reserved_opcode_from_header(role: str) -> None:
    """The header is enough: the payload of a frame with a reserved opcode isn't awaited."""
    with open_peer(role) as peer:
        peer.send(peer.header(0x3, 1000))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("opcode", RESERVED, ids=hex)
def test_reserved_opcode_after_valid_message(role: str, opcode: int, split: Split) -> None:
    """Autobahn 4.1.3-4.1.5, 4.2.3-4.2.5: text, reserved opcode, ping.

    As for reserved bits, the echo precedes the Close frame when everything
    arrives in one write, and may be lost when chopped (NON-STRICT).
    """
    with open_peer(role) as peer:
        peer.send(
            *peer.message("valid"),
            peer.frame(opcode, b"reserved opcode"),
            peer.frame(PING, b"unanswered"),
            split=split,
        )
        frames = peer.fails_with(1002)
        if split == "write":
            assert frames == [RawFrame(TEXT, b"valid")]
        else:
            assert frames in ([], [RawFrame(TEXT, b"valid")])
        assert peer.ours.received == ["valid"]
