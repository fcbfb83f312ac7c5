"""permessage-deflate (Autobahn 12.x, 13.x; RFC 7692).

The peer negotiates the extension with its own handshake: it offers it to
our server, or answers our client's offer. Then it compresses with zlib
(raw deflate, 00 00 ff ff removed, RFC 7692 §7.2.1) and inflates what our end
sends with the window our end may use: if our end referred to data outside its
window, or kept its context after promising not to, inflating fails. Cases run
against our server and our client (the ``role`` fixture) unless the
negotiation differs by role.
"""

from __future__ import annotations

import os
import zlib

import pytest

from websockets_sync.exceptions import InvalidHandshake

from .peer import BINARY, CLOSE, CONT, PING, PONG, TEXT, Peer, RawFrame, open_peer

KIB, MIB = 1 << 10, 1 << 20

# What the peer sends to negotiate the defaults: an offer or an answer.
DEFLATE = "permessage-deflate"


def message_of(kind: str, size: int) -> str | bytes:
    """A compressible message: repeated words, ``size`` bytes."""
    data = (b"compressible message " * (size // 21 + 1))[:size]
    return data.decode() if kind == "text" else data


def random_message(size: int) -> bytes:
    """An incompressible message: repeating it tests the window and the context."""
    return os.urandom(size)


# Negotiation with our server.

# Our server's defaults: a 12-bit window for itself, and for the client when
# the offer lets the server choose it (RFC 7692 §7.1.2).
ACCEPTED_OFFERS = {
    "default": (DEFLATE, "permessage-deflate; server_max_window_bits=12"),
    "client_max_window_bits": (
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    ),
    "client_max_window_bits=9": (
        "permessage-deflate; client_max_window_bits=9",
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
    ),
    "client_max_window_bits=8": (
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=8",
    ),
    "server_max_window_bits=10": (
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10",
    ),
    "server_max_window_bits=8": (
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=8",
    ),
    "server_max_window_bits=15": (
        "permessage-deflate; server_max_window_bits=15",
        "permessage-deflate; server_max_window_bits=12",
    ),
    "server_no_context_takeover": (
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
    ),
    "client_no_context_takeover": (
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=12",
    ),
    "all": (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=9",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=9",
    ),
    "quoted": (
        'permessage-deflate; server_max_window_bits="10"',
        "permessage-deflate; server_max_window_bits=10",
    ),
    "fallback": (
        "permessage-deflate; server_max_window_bits=10; client_no_context_takeover, "
        "permessage-deflate",
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
    ),
    "invalid-then-valid": (
        "permessage-deflate; server_max_window_bits=7, permessage-deflate",
        "permessage-deflate; server_max_window_bits=12",
    ),
}


def exchange(peer: Peer) -> None:
    """Check compressed messages both ways, with the window and context negotiated.

    Each incompressible block goes twice in a row: a compressor that keeps
    its context could refer to the first copy from the second one. Block
    sizes fall between window sizes (256 bytes to 32 KiB), so referring back
    is out of bounds for a window smaller than the block, and for a reset
    context; the peer's inflater fails on such a reference.
    """
    messages: list[str | bytes] = ["text " * 100, b""]
    for size in [300, 700, 1500, 3000, 6000, 12000, 24000]:
        block = random_message(size)
        messages += [block, block]
    for message in messages:
        peer.send_message(message, compress=True)
        assert peer.recv_message() == message


@pytest.mark.parametrize(("offer", "response"), ACCEPTED_OFFERS.values(), ids=ACCEPTED_OFFERS)
def test_server_accepts_offer(offer: str, response: str) -> None:
    """Autobahn 13.x: each parameter of RFC 7692 §7.1, answered within what was asked."""
    with open_peer("server", extensions=offer) as peer:
        assert peer.extensions == response
        exchange(peer)
        peer.closes_cleanly()


DECLINED_OFFERS = {
    "unknown-parameter": "permessage-deflate; foo",
    "unknown-parameter-value": "permessage-deflate; foo=bar",
    "server_max_window_bits=7": "permessage-deflate; server_max_window_bits=7",
    "server_max_window_bits=16": "permessage-deflate; server_max_window_bits=16",
    "server_max_window_bits=08": "permessage-deflate; server_max_window_bits=08",
    "server_max_window_bits-no-value": "permessage-deflate; server_max_window_bits",
    "client_max_window_bits=7": "permessage-deflate; client_max_window_bits=7",
    "client_max_window_bits=16": "permessage-deflate; client_max_window_bits=16",
    "no_context_takeover-value": "permessage-deflate; server_no_context_takeover=1",
    "duplicate": "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "unknown-extension": "x-webkit-deflate-frame",
}


@pytest.mark.parametrize("offer", DECLINED_OFFERS.values(), ids=DECLINED_OFFERS)
def test_server_declines_invalid_offer(offer: str) -> None:
    """RFC 7692 §5: a server declines an invalid offer and the connection goes on without it."""
    with open_peer("server", extensions=offer) as peer:
        assert peer.extensions is None
        peer.send_message("uncompressed")
        assert peer.recv_frame() == RawFrame(TEXT, b"uncompressed")
        peer.closes_cleanly()


def test_server_without_compression_declines() -> None:
    with open_peer("server", extensions=DEFLATE, compression=None) as peer:
        assert peer.extensions is None
        peer.send_message("uncompressed")
        assert peer.recv_frame() == RawFrame(TEXT, b"uncompressed")
        peer.closes_cleanly()


# Negotiation with our client, which offers "permessage-deflate; client_max_window_bits".

ACCEPTED_ANSWERS = [
    DEFLATE,
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=8",
    "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8; "
    "server_no_context_takeover; client_no_context_takeover",
]


@pytest.mark.parametrize("answer", ACCEPTED_ANSWERS)
def test_client_accepts_answer(answer: str) -> None:
    """Our client applies the parameters of the server's answer (RFC 7692 §7.1)."""
    with open_peer("client", extensions=answer) as peer:
        exchange(peer)
        peer.closes_cleanly()


REJECTED_ANSWERS = [
    "permessage-deflate; foo",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; client_max_window_bits",  # a value is required in an answer
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate, permessage-deflate",
    "x-webkit-deflate-frame",
]


@pytest.mark.parametrize("answer", REJECTED_ANSWERS)
def test_client_rejects_invalid_answer(answer: str) -> None:
    """RFC 7692 §5, RFC 6455 §4.1: our client fails the connection on an invalid answer."""
    with open_peer("client", extensions=answer) as peer:
        peer.ours.wait()
        assert isinstance(peer.ours.handshake_error, InvalidHandshake)
        peer.sock.settimeout(1)
        assert peer.sock.recv(1) == b""


def test_client_without_compression_rejects_answer() -> None:
    """An answer with an extension our client didn't offer fails the handshake."""
    with open_peer("client", extensions=DEFLATE, compression=None) as peer:
        peer.ours.wait()
        assert isinstance(peer.ours.handshake_error, InvalidHandshake)


# Compressed data, with the default negotiation.


@pytest.mark.parametrize(
    "size", [0, 1, 16, 125, 126, 1000, 64 * KIB, 256 * KIB], ids=lambda size: str(size)
)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_compressed_message_echoed(role: str, kind: str, size: int) -> None:
    """Autobahn 12.x: messages compressed by the peer, echoed compressed, three times."""
    message = message_of(kind, size)
    with open_peer(role, extensions=DEFLATE, max_size=None) as peer:
        for _ in range(3):
            peer.send_message(message, compress=True)
            assert peer.recv_message() == message
        peer.closes_cleanly()


def test_random_data_echoed(role: str) -> None:
    """Incompressible data: deflate's stored blocks, larger than the message."""
    message = random_message(256 * KIB)
    with open_peer(role, extensions=DEFLATE, max_size=None) as peer:
        peer.send_message(message, compress=True)
        assert peer.recv_message() == message
        peer.closes_cleanly()


def test_uncompressed_message_accepted(role: str) -> None:
    """RFC 7692 §6: a message without RSV1 isn't compressed, even once negotiated."""
    with open_peer(role, extensions=DEFLATE) as peer:
        peer.send(*peer.message("plain"), *peer.message(b"plain", fragments=2))
        assert peer.recv_message() == "plain"
        assert peer.recv_message() == b"plain"
        peer.send_message("squeezed", compress=True)
        assert peer.recv_message() == "squeezed"
        peer.closes_cleanly()


@pytest.mark.parametrize(
    ("size", "fragments"),
    [(1000, [1, 1]), (1000, [0]), (1000, 1), (KIB, 7), (64 * KIB, KIB)],
    ids=["first-bytes", "first-empty", "each-byte", "7-bytes", "64k-in-1k"],
)
def test_fragmented_compressed_message(role: str, size: int, fragments: int | list[int]) -> None:
    """Autobahn 13.x with fragments: RSV1 on the first frame only (RFC 7692 §6.1).

    The compressed payload is cut anywhere, even inside the deflate block header.
    """
    message = message_of("text", size)
    with open_peer(role, extensions=DEFLATE) as peer:
        peer.send(*peer.message(message, compress=True, fragments=fragments))
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize("last", [b"\x00", b""], ids=["00", "empty"])
def test_fragments_flushed_separately(role: str, last: bytes) -> None:
    """Each fragment ends with a sync flush, like our own fragments; then an empty fragment.

    RFC 7692 §7.2.3.6 sends an empty last fragment as a single 00 (an empty
    stored block without 00 00 ff ff); an empty payload inflates to nothing too.
    """
    parts = [b"fragment one, ", b"fragment two, ", b"fragment three"]
    with open_peer(role, extensions=DEFLATE) as peer:
        assert peer.deflate is not None
        compressor = zlib.compressobj(wbits=-peer.deflate.peer_window)
        payloads = [
            compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH) for part in parts
        ]
        payloads.append(last)
        peer.send(
            peer.frame(BINARY, payloads[0], fin=False, rsv=4),
            peer.frame(PING, b"between"),
            peer.frame(CONT, payloads[1], fin=False),
            peer.frame(CONT, payloads[2], fin=False),
            peer.frame(CONT, payloads[3]),
        )
        assert peer.recv_frame() == RawFrame(PONG, b"between")
        assert peer.recv_message() == b"".join(parts)
        peer.closes_cleanly()


def test_final_block_ends_message(role: str) -> None:
    """RFC 7692 §7.2.3.4: a message may end with a BFINAL block; the next one starts afresh."""
    with open_peer(role, extensions=DEFLATE) as peer:
        for message in [b"first message", b"second message"]:
            compressor = zlib.compressobj(wbits=-15)
            payload = compressor.compress(message) + compressor.flush(zlib.Z_FINISH) + b"\x00"
            peer.send(peer.frame(BINARY, payload, rsv=4))
            assert peer.recv_message() == message
        peer.closes_cleanly()


# Context takeover (RFC 7692 §7.1.1).

OUR_NO_CONTEXT_TAKEOVER = {
    "server": "permessage-deflate; server_no_context_takeover",
    "client": "permessage-deflate; client_no_context_takeover",
}
PEER_NO_CONTEXT_TAKEOVER = {
    "server": "permessage-deflate; client_no_context_takeover",
    "client": "permessage-deflate; server_no_context_takeover",
}


def test_our_end_resets_context(role: str) -> None:
    """Once no context takeover is agreed for our end, each message inflates on its own.

    The peer inflates every message with a fresh decompressor: a reference to
    the previous message, the same 1 KiB of random data, would fail.
    """
    block = random_message(KIB)
    with open_peer(role, extensions=OUR_NO_CONTEXT_TAKEOVER[role]) as peer:
        assert peer.deflate is not None and peer.deflate.our_no_context_takeover
        for _ in range(3):
            peer.send_message(block, compress=True)
            assert peer.recv_message() == block
        peer.closes_cleanly()


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
def test_peer_context(role: str, takeover: bool) -> None:
    """Our end inflates with the peer's context, or without it once agreed."""
    block = random_message(KIB)
    extensions = DEFLATE if takeover else PEER_NO_CONTEXT_TAKEOVER[role]
    with open_peer(role, extensions=extensions) as peer:
        first, second = (peer.message(block, compress=True)[0] for _ in range(2))
        # With its context, the peer's second message refers to the first one.
        assert (len(second) < len(first) / 4) is takeover
        peer.send(first, second)
        assert [peer.recv_message(), peer.recv_message()] == [block, block]
        peer.closes_cleanly()


# Frames that break RFC 7692: the connection fails.


def test_rsv1_on_continuation(role: str) -> None:
    """RFC 7692 §6.1: RSV1 is set on the first frame of a message only: 1002."""
    with open_peer(role, extensions=DEFLATE) as peer:
        compressed = peer.compress(b"compressed in two")
        peer.send(
            peer.frame(BINARY, compressed[:4], fin=False, rsv=4),
            peer.frame(CONT, compressed[4:], rsv=4),
        )
        assert peer.fails_with(1002) == []


def test_rsv1_on_continuation_of_uncompressed_message(role: str) -> None:
    with open_peer(role, extensions=DEFLATE) as peer:
        peer.send(peer.frame(TEXT, b"plain", fin=False), peer.frame(CONT, b"\x00", rsv=4))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE], ids=["ping", "pong", "close"])
def test_rsv1_on_control_frame(role: str, opcode: int) -> None:
    """RFC 7692 §6.1: control frames are never compressed: 1002."""
    with open_peer(role, extensions=DEFLATE) as peer:
        payload = b"\x03\xe8" if opcode == CLOSE else b"control"
        peer.send(peer.frame(opcode, payload, rsv=4))
        assert peer.fails_with(1002) == []


@pytest.mark.parametrize("rsv", [1, 2, 3, 5, 6, 7])
def test_other_rsv_bits_with_compression(role: str, rsv: int) -> None:
    """permessage-deflate defines RSV1 only: RSV2 and RSV3 still fail with 1002."""
    with open_peer(role, extensions=DEFLATE) as peer:
        payload = peer.compress(b"data") if rsv & 4 else b"data"
        peer.send(peer.frame(BINARY, payload, rsv=rsv))
        assert peer.fails_with(1002) == []


def test_compressed_frame_without_negotiation(role: str) -> None:
    """RSV1 when permessage-deflate wasn't negotiated: 1002 (RFC 6455 §5.2)."""
    with open_peer(role) as peer:
        compressed = zlib.compressobj(wbits=-15)
        payload = compressed.compress(b"compressed") + compressed.flush(zlib.Z_SYNC_FLUSH)
        peer.send(peer.frame(TEXT, payload[:-4], rsv=4))
        assert peer.fails_with(1002) == []


def test_invalid_compressed_data(role: str) -> None:
    """Data that isn't deflate fails the connection with 1002."""
    with open_peer(role, extensions=DEFLATE) as peer:
        peer.send(peer.frame(BINARY, b"\xff\xff\xff\xff not deflate", rsv=4))
        assert peer.fails_with(1002) == []


def test_valid_compressed_invalid_utf8(role: str) -> None:
    """UTF-8 is checked after inflating: 1007."""
    with open_peer(role, extensions=DEFLATE) as peer:
        peer.send_message(b"\xce\xba\xed\xa0\x80", compress=False)  # binary is fine
        assert peer.recv_message() == b"\xce\xba\xed\xa0\x80"
        payload = peer.compress(b"valid, then \xed\xa0\x80")
        peer.send(peer.frame(TEXT, payload, rsv=4))
        assert peer.fails_with(1007) == []


# Decompression bombs: max_size applies to the inflated size.


@pytest.mark.parametrize("fragments", [None, 1024], ids=["one-frame", "fragmented"])
def test_decompression_bomb(role: str, fragments: int | None) -> None:
    """16 MiB of zeros deflate to about 16 KiB: 1009 with the default 1 MiB limit."""
    with open_peer(role, extensions=DEFLATE) as peer:
        frames = peer.message(bytes(16 * MIB), compress=True, fragments=fragments)
        assert sum(len(frame) for frame in frames) < 64 * KIB
        peer.send(*frames)
        assert peer.fails_with(1009) == []


def test_inflated_size_at_limit(role: str) -> None:
    """A compressed message that inflates to exactly max_size is accepted; one byte more isn't."""
    with open_peer(role, extensions=DEFLATE, max_size=64 * KIB) as peer:
        peer.send_message(bytes(64 * KIB), compress=True)
        assert peer.recv_message() == bytes(64 * KIB)
        peer.send_message(bytes(64 * KIB + 1), compress=True)
        assert peer.fails_with(1009) == []


def test_incompressible_message_at_limit(role: str) -> None:
    """Incompressible data deflates to a little more than its size; at max_size it's accepted.

    64 KiB of random data, 25 bytes longer once deflated.
    """
    message = random_message(64 * KIB)
    with open_peer(role, extensions=DEFLATE, max_size=64 * KIB) as peer:
        peer.send_message(message, compress=True)
        assert peer.recv_message() == message
        peer.closes_cleanly()


@pytest.mark.parametrize(
    ("max_size", "mem_level", "cut"),
    [(4 * MIB, 8, None), (MIB, 1, None), (64 * KIB, 8, 32 * KIB)],
    ids=["4m-zlib-defaults", "1m-memlevel-1", "64k-in-two-fragments"],
)
def test_incompressible_message_at_large_limit(
    role: str, max_size: int, mem_level: int, cut: int | None
) -> None:
    """An incompressible message of exactly max_size bytes, as other peers deflate it."""
    message = random_message(max_size)
    with open_peer(role, extensions=DEFLATE, max_size=max_size) as peer:
        assert peer.deflate is not None
        compressor = zlib.compressobj(wbits=-peer.deflate.peer_window, memLevel=mem_level)
        payload = (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        if cut is None:
            peer.send(peer.frame(BINARY, payload, rsv=4))
        else:
            first, rest = payload[:cut], payload[cut:]
            peer.send(peer.frame(BINARY, first, fin=False, rsv=4), peer.frame(CONT, rest))
        assert peer.recv_message() == message
        peer.closes_cleanly()
