"""Node's `ws` package (https://github.com/websockets/ws), as client and as server.

The JS scripts under js/ are driven as subprocesses with JSON lines; `ws` 8 is
installed once into .cache/node by the ``node_ws`` fixture. permessage-deflate is
enabled on the Node side, so compression is negotiated both ways.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from websockets_sync import ConnectionClosedError, connect

from .helpers import (
    ALL_MESSAGES,
    COMPRESSIBLE,
    FRAGMENTS_BINARY,
    FRAGMENTS_TEXT,
    MAX_SIZE,
    ONE_MIB_RANDOM,
    SECONDS,
    OurServer,
    WireBytes,
    assert_compressed,
    check_deflate,
    decode_message,
    encode_message,
    wire_bytes,
)
from .processes import NodeScript

# Node's ws client against our server.


class NodeClient:
    """js/client.js connected to our server, with what it saw of the handshake."""

    def __init__(self, script: NodeScript) -> None:
        self.script = script
        self.response_headers: dict[str, str] = script.event("upgrade")["headers"]
        self.extensions: str = script.event("open")["extensions"]

    def send(self, message: str | bytes) -> None:
        self.script.command(op="send", **encode_message(message))

    def recv(self) -> str | bytes:
        return decode_message(self.script.event("message"))


@pytest.fixture
def server() -> Iterator[OurServer]:
    with OurServer() as server:
        yield server


@pytest.fixture
def node_client(node_ws: str, server: OurServer, tmp_path: Path) -> Iterator[NodeClient]:
    with NodeScript(node_ws, "client.js", server.uri("/node"), log=tmp_path / "node.log") as script:
        yield NodeClient(script)
    server.wait_idle()


@pytest.mark.parametrize("message", ALL_MESSAGES.values(), ids=ALL_MESSAGES.keys())
def test_node_client_messages(node_client: NodeClient, message: str | bytes) -> None:
    node_client.send(message)
    received = node_client.recv()
    assert received == message and type(received) is type(message)


def test_node_client_one_mib_at_default_max_size(node_ws: str, tmp_path: Path) -> None:
    """Exactly 1 MiB of random bytes, compressed by Node, to our server's defaults."""
    with OurServer(default_limits=True) as server:
        with NodeScript(node_ws, "client.js", server.uri(), log=tmp_path / "node.log") as script:
            NodeClient(script).send(ONE_MIB_RANDOM)
            event = script.next_event()
            assert event["event"] == "message", event  # not a close with 1009
            assert decode_message(event) == ONE_MIB_RANDOM
        server.wait_idle()


def test_node_client_fragmented(node_client: NodeClient) -> None:
    """Node's fragments (fin: false) arrive as one message; ours reach Node as one."""
    fragmented: list[tuple[list[str | bytes], bool, str | bytes]] = [
        (["their ", "", "frag", "ments ✓"], False, "their fragments ✓"),
        ([b"\x00", b"", b"\xff"], True, b"\x00\xff"),
    ]
    for fragments, binary, expected in fragmented:
        node_client.script.command(
            op="send_fragments", binary=binary, fragments=[encode_message(f) for f in fragments]
        )
        assert node_client.recv() == expected
    node_client.send("fragments?")
    assert node_client.recv() == "".join(FRAGMENTS_TEXT)
    assert node_client.recv() == b"".join(FRAGMENTS_BINARY)


def test_node_client_compression(server: OurServer, node_client: NodeClient) -> None:
    """permessage-deflate offered by Node, accepted by us, used both ways."""
    offered, accepted = server.next_side().extensions()
    check_deflate(offered)
    check_deflate(accepted)
    assert node_client.response_headers["sec-websocket-extensions"] == accepted
    assert node_client.extensions == "permessage-deflate"
    node_client.send("wire?")
    before = WireBytes(**json.loads(node_client.recv()))
    node_client.send(COMPRESSIBLE)
    assert node_client.recv() == COMPRESSIBLE
    node_client.send("wire?")
    assert_compressed(WireBytes(**json.loads(node_client.recv())) - before)


def test_node_client_closes(server: OurServer, node_client: NodeClient) -> None:
    node_client.script.command(op="close", code=4000, reason="node bye ✓")
    close = node_client.script.event("close")
    assert (close["code"], close["reason"]) == (4000, "node bye ✓")  # our echo
    assert server.next_side().close_seen() == (4000, "node bye ✓")


def test_node_client_sees_our_close(server: OurServer, node_client: NodeClient) -> None:
    node_client.send("close 4001 server bye")
    assert node_client.recv() == "closing 4001"
    close = node_client.script.event("close")
    assert (close["code"], close["reason"]) == (4001, "server bye")
    assert server.next_side().close_seen() == (4001, "server bye")  # Node's echo


# Our client against Node's ws server.


@pytest.fixture(scope="module")
def node_server(
    node_ws: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[NodeScript, str]]:
    """js/server.js, shared by the tests of this module; yields it and its base URI."""
    config = {
        "fragmentsText": FRAGMENTS_TEXT,
        "fragmentsBinary": [base64.b64encode(f).decode() for f in FRAGMENTS_BINARY],
    }
    log = tmp_path_factory.mktemp("node-server") / "node.log"
    with NodeScript(node_ws, "server.js", json.dumps(config), log=log) as script:
        port = script.event("listening")["port"]
        yield script, f"ws://127.0.0.1:{port}"


@contextmanager
def our_client(node_server: tuple[NodeScript, str]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Our client on a path of its own; yields it and Node's connection event."""
    script, base_uri = node_server
    path = f"/{uuid.uuid4()}"
    with connect(base_uri + path, max_size=MAX_SIZE) as client:
        yield client, script.event("connection", path)
    client.wait_closed(5 * SECONDS)


def node_close(node_server: tuple[NodeScript, str], connection: dict[str, Any]) -> tuple[int, str]:
    """The close code and reason Node's server received on ``connection``."""
    close = node_server[0].event("close", connection["path"])
    return close["code"], close["reason"]


@pytest.mark.parametrize("message", ALL_MESSAGES.values(), ids=ALL_MESSAGES.keys())
def test_our_client_messages(node_server: tuple[NodeScript, str], message: str | bytes) -> None:
    with our_client(node_server) as (client, _):
        client.send(message)
        received = client.recv(timeout=10 * SECONDS)
        assert received == message and type(received) is type(message)


def test_our_client_one_mib_at_default_max_size(node_server: tuple[NodeScript, str]) -> None:
    """Node's compressed echo of 1 MiB of random bytes fits our client's defaults."""
    with connect(f"{node_server[1]}/{uuid.uuid4()}") as client:
        client.send(ONE_MIB_RANDOM)
        assert client.recv(timeout=10 * SECONDS) == ONE_MIB_RANDOM


def test_our_client_fragmented(node_server: tuple[NodeScript, str]) -> None:
    with our_client(node_server) as (client, _):
        client.send(["our ", "", "frag", "ments ✓"])
        assert client.recv(timeout=10 * SECONDS) == "our fragments ✓"
        client.send([b"\x00", b"", b"\xff"])
        assert client.recv(timeout=10 * SECONDS) == b"\x00\xff"
        client.send("fragments?")
        assert client.recv(timeout=10 * SECONDS) == "".join(FRAGMENTS_TEXT)
        assert client.recv(timeout=10 * SECONDS) == b"".join(FRAGMENTS_BINARY)


def test_our_client_compression(node_server: tuple[NodeScript, str]) -> None:
    with our_client(node_server) as (client, connection):
        check_deflate(connection["headers"]["sec-websocket-extensions"])
        assert connection["extensions"] == "permessage-deflate"
        check_deflate(client.response_headers.get("Sec-WebSocket-Extensions"))
        before = wire_bytes(client.socket)
        client.send(COMPRESSIBLE)
        assert client.recv(timeout=10 * SECONDS) == COMPRESSIBLE
        assert_compressed(wire_bytes(client.socket) - before)


def test_our_client_closes(node_server: tuple[NodeScript, str]) -> None:
    with our_client(node_server) as (client, connection):
        client.close(4000, "client bye ✓")
        assert (client.close_code, client.close_reason) == (4000, "client bye ✓")  # Node's echo
        assert node_close(node_server, connection) == (4000, "client bye ✓")


def test_our_client_sees_node_close(node_server: tuple[NodeScript, str]) -> None:
    with our_client(node_server) as (client, connection):
        client.send("close 4001 server bye")
        assert client.recv(timeout=10 * SECONDS) == "closing 4001"
        with pytest.raises(ConnectionClosedError) as info:
            client.recv(timeout=10 * SECONDS)
        assert (info.value.code, info.value.reason) == (4001, "server bye")
        assert node_close(node_server, connection) == (4001, "server bye")  # our echo
