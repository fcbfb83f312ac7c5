"""websocket-client (a client only) against our server, beyond tests/test_interop.py.

Fragmented messages built frame by frame with continuation frames and a ping
between fragments (RFC 6455 §5.4), our fragments seen frame by frame, 1 MiB
messages, compression (websocket-client doesn't offer permessage-deflate: our
server must not compress) and the closing handshake frame by frame (§5.5.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .helpers import (
    BIG_MESSAGES,
    COMPRESSIBLE,
    FRAGMENTS_BINARY,
    FRAGMENTS_TEXT,
    ONE_MIB_RANDOM,
    SECONDS,
    OurServer,
    WireBytes,
    assert_compressed,
    require_module,
)

websocket = require_module("websocket", "websocket-client")
ABNF = websocket.ABNF


@pytest.fixture
def server() -> Iterator[OurServer]:
    with OurServer() as server:
        yield server


@pytest.fixture
def ws(server: OurServer) -> Iterator[Any]:
    """websocket-client connected to our server."""
    ws = websocket.create_connection(server.uri(), timeout=10 * SECONDS)
    try:
        yield ws
    finally:
        ws.shutdown()
        server.wait_idle()


@pytest.mark.parametrize("message", BIG_MESSAGES.values(), ids=BIG_MESSAGES.keys())
def test_one_mib(ws: Any, message: str | bytes) -> None:
    if isinstance(message, str):
        ws.send(message)
    else:
        ws.send_binary(message)
    received = ws.recv()
    assert received == message and type(received) is type(message)


def test_one_mib_at_default_max_size() -> None:
    """Uncompressed, exactly 1 MiB fits our server's default max_size."""
    with OurServer(default_limits=True) as server:
        ws = websocket.create_connection(server.uri(), timeout=10 * SECONDS)
        try:
            ws.send_binary(ONE_MIB_RANDOM)
            assert ws.recv() == ONE_MIB_RANDOM
        finally:
            ws.shutdown()
        server.wait_idle()


@pytest.mark.parametrize(
    ("opcode", "fragments"),
    [
        (ABNF.OPCODE_TEXT, [s.encode() for s in ["their ", "", "frag", "mént", "s ✓"]]),
        # A UTF-8 sequence split across two fragments (é is C3 A9).
        (ABNF.OPCODE_TEXT, [b"caf\xc3", b"\xa9"]),
        (ABNF.OPCODE_BINARY, [b"\x00\x01", b"", b"\xfe\xff"]),
    ],
    ids=["text", "split-utf8", "binary"],
)
def test_fragmented_by_websocket_client(ws: Any, opcode: int, fragments: list[bytes]) -> None:
    """Continuation frames, one empty, with a ping in the middle: echoed as one message."""
    last = len(fragments) - 1
    for i, fragment in enumerate(fragments):
        frame_opcode = opcode if i == 0 else ABNF.OPCODE_CONT
        ws.send_frame(ABNF.create_frame(fragment, frame_opcode, fin=int(i == last)))
        if i == 0:  # between the first fragment and the next ones
            ws.send_frame(ABNF.create_frame(b"mid-message", ABNF.OPCODE_PING))
    # The pong answers at once; the echo follows when the message is complete.
    assert ws.recv_data_frame(control_frame=True)[1].data == b"mid-message"
    joined = b"".join(fragments)
    assert ws.recv() == (joined.decode() if opcode == ABNF.OPCODE_TEXT else joined)


def test_fragmented_by_us_frame_by_frame(ws: Any) -> None:
    """Our iterables leave as one frame per item: a data frame, then continuations."""
    ws.send("fragments?")
    for opcode, fragments in (
        (ABNF.OPCODE_TEXT, [f.encode() for f in FRAGMENTS_TEXT]),
        (ABNF.OPCODE_BINARY, FRAGMENTS_BINARY),
    ):
        frames = [ws.recv_frame()]
        while not frames[-1].fin:
            frames.append(ws.recv_frame())
        assert [f.opcode for f in frames] == [opcode] + [ABNF.OPCODE_CONT] * (len(frames) - 1)
        assert [f.data for f in frames] == fragments


def test_compression_not_negotiated(server: OurServer, ws: Any) -> None:
    """Nothing offered, nothing accepted, and COMPRESSIBLE crosses uncompressed."""
    side = server.next_side()
    assert side.extensions() == (None, None)
    assert "sec-websocket-extensions" not in ws.getheaders()
    ws.send("wire?")
    before = WireBytes(**json.loads(ws.recv()))
    ws.send(COMPRESSIBLE)
    assert ws.recv() == COMPRESSIBLE
    ws.send("wire?")
    assert_compressed(WireBytes(**json.loads(ws.recv())) - before, compressed=False)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, ""), (1001, "going away"), (4000, "wsc bye ✓")],
    ids=["1000", "1001", "4000"],
)
def test_websocket_client_closes(server: OurServer, ws: Any, code: int, reason: str) -> None:
    """Our server echoes the code and reason of the client's Close frame (§5.5.1)."""
    ws.send_close(code, reason.encode())
    frame = ws.recv_frame()
    assert frame.opcode == ABNF.OPCODE_CLOSE
    assert frame.data == code.to_bytes(2, "big") + reason.encode()
    # Our server half-closed (RFC 6455 §7.1.1) and waits for the client to close.
    ws.shutdown()
    assert server.next_side().close_seen() == (code, reason)


def test_we_close_after_a_message(server: OurServer, ws: Any) -> None:
    """The message sent before our Close arrives first; websocket-client answers 1000."""
    ws.send("close 1001 going away")
    assert ws.recv() == "closing 1001"
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == ABNF.OPCODE_CLOSE
    assert frame.data == (1001).to_bytes(2, "big") + b"going away"
    # recv_data_frame answered with a bare 1000, as RFC 6455 §5.5.1 allows.
    ws.shutdown()
    assert server.next_side().close_seen() == (1000, "")
