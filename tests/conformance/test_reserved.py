"""Reserved bits (Autobahn 3.x; RFC 6455 §5.2).

Without a negotiated extension, a frame with RSV1, RSV2 or RSV3 set fails the
connection with 1002, whatever its opcode. Every case runs against our server
and our client (the ``role`` fixture); see ``test_compression`` for RSV bits
once permessage-deflate is negotiated.
"""

from __future__ import annotations

import pytest

from .peer import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawFrame, Split, open_peer

RSV = range(1, 8)
OPCODES = {"text": TEXT, "binary": BINARY, "ping": PING, "pong": PONG, "close": CLOSE}


def frame_payload(opcode: int) -> bytes:
    return b"\x03\xe8" if opcode == CLOSE else b"reserved"


@pytest.mark.parametrize("opcode", OPCODES.values(), ids=OPCODES.keys())
@pytest.mark.parametrize("rsv", RSV)
def test_reserved_bits(role: str, rsv: int, opcode: int) -> None:
    """Autobahn 3.1, 3.5, 3.6, 3.7: RSV bits on data and control frames."""
    with open_peer(role) as peer:
        peer.send(peer.frame(opcode, frame_payload(opcode), rsv=rsv))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("rsv", RSV)
def test_reserved_bits_on_continuation(role: str, rsv: int) -> None:
    with open_peer(role) as peer:
        peer.send(peer.frame(TEXT, b"frag", fin=False), peer.frame(CONT, b"ment", rsv=rsv))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("split", ["write", "frames", "octets"])
@pytest.mark.parametrize("rsv", RSV)
def test_reserved_bits_after_valid_message(role: str, rsv: int, split: Split) -> None:
    """Autobahn 3.2-3.4: text, text with RSV bits, ping.

    Our application receives the first message; the Ping after the bad frame
    is never answered. In one write, the echo comes before the Close frame
    (errors surface in stream order). Chopped, the bad frame may arrive after
    the application took the message but before it echoed it: the connection
    fails at once and the echo may be lost (Autobahn's NON-STRICT outcome).
    """
    with open_peer(role) as peer:
        peer.send(
            *peer.message("valid"),
            peer.frame(TEXT, b"invalid", rsv=rsv),
            peer.frame(PING, b"unanswered"),
            split=split,
        )
        frames = peer.fails_with(1002)
        if split == "write":
            assert frames == [RawFrame(TEXT, b"valid")]
        else:
            assert frames in ([], [RawFrame(TEXT, b"valid")])
        assert peer.ours.received == ["valid"]
