"""The client over real loopback sockets: websockets_sync.client.

What ``connect`` sends (RFC 6455 §4.1: the request target, Host, the
negotiation headers and the options that add headers), how it reacts to
servers that misbehave during and after the opening handshake, and its side
of the closing handshake (RFC 6455 §7.1.1: the server closes TCP first).
"""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from websockets_sync import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatusCode,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    SecurityError,
    WebSocketClientProtocol,
    connect,
    serve,
)

from .utils import (
    MS,
    Echo,
    accept_response,
    answer_close,
    frame,
    ipv6_loopback_available,
    raw_server,
    read_http_head,
    read_until_eof,
    server_uri,
)

REJECT = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"


class CapturedRequest:
    """The request line and headers a raw server received."""

    def __init__(self, head: bytes) -> None:
        request_line, *lines = head.decode("ascii").rstrip("\r\n").split("\r\n")
        self.request_line = request_line
        self.headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def capture_request(uri_path: str = "/", **options: Any) -> CapturedRequest:
    """Connect to a raw server that records the request and answers 403."""
    captured: queue.Queue[bytes] = queue.Queue()

    def respond(conn: socket.socket) -> None:
        head, _ = read_http_head(conn)
        captured.put(head)
        conn.sendall(REJECT)

    with raw_server(respond) as (host, port):
        with pytest.raises(InvalidStatusCode):
            connect(f"ws://{host}:{port}{uri_path}", **options)
    return CapturedRequest(captured.get(timeout=1000 * MS))


# What the client sends.


@pytest.mark.parametrize(
    ("uri_path", "target"),
    [
        ("", "/"),
        ("/", "/"),
        ("/chat/room", "/chat/room"),
        ("/chat?room=1&user=me", "/chat?room=1&user=me"),
        ("?only=query", "/?only=query"),
        ("/café?q=é", "/caf%C3%A9?q=%C3%A9"),
    ],
    ids=["empty", "root", "path", "path-query", "query-only", "non-ascii"],
)
def test_request_target_is_path_and_query(uri_path: str, target: str) -> None:
    """RFC 6455 §3: the resource name is the path and the query, "/" when empty."""
    request = capture_request(uri_path)
    assert request.request_line == f"GET {target} HTTP/1.1"


def test_required_headers() -> None:
    """RFC 6455 §4.1: Host, Upgrade, Connection, a 16-byte key and version 13."""
    request = capture_request()
    (host,) = request.get_all("Host")
    assert host.startswith("127.0.0.1:")
    assert request.get_all("Upgrade") == ["websocket"]
    assert request.get_all("Connection") == ["Upgrade"]
    assert request.get_all("Sec-WebSocket-Version") == ["13"]
    (key,) = request.get_all("Sec-WebSocket-Key")
    assert len(key) == 24 and key.endswith("==")
    # permessage-deflate is offered by default (compression="deflate").
    (extensions,) = request.get_all("Sec-WebSocket-Extensions")
    assert extensions.startswith("permessage-deflate")


def test_compression_none_offers_no_extension() -> None:
    request = capture_request(compression=None)
    assert request.get_all("Sec-WebSocket-Extensions") == []


def test_subprotocols_origin_and_extra_headers_list() -> None:
    request = capture_request(
        subprotocols=["chat", "superchat"],
        origin="https://app.example",
        extra_headers=[("X-Repeated", "1"), ("X-Repeated", "2")],
    )
    assert request.get_all("Sec-WebSocket-Protocol") == ["chat, superchat"]
    assert request.get_all("Origin") == ["https://app.example"]
    assert request.get_all("X-Repeated") == ["1", "2"]


def test_extra_headers_dict() -> None:
    request = capture_request(extra_headers={"X-Token": "abc", "X-Other": "def"})
    assert request.get_all("X-Token") == ["abc"]
    assert request.get_all("X-Other") == ["def"]
    assert request.get_all("Origin") == []
    assert request.get_all("Sec-WebSocket-Protocol") == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "websockets_sync"),
        ({"user_agent_header": "Custom/1.0"}, "Custom/1.0"),
        ({"user_agent_header": None}, None),
        ({"extra_headers": {"User-Agent": "FromExtra/2"}}, "FromExtra/2"),
    ],
    ids=["default", "custom", "none", "extra-headers"],
)
def test_user_agent_header(options: dict[str, Any], expected: str | None) -> None:
    values = capture_request(**options).get_all("User-Agent")
    if expected is None:
        assert values == []
    else:
        assert len(values) == 1 and expected in values[0]


@pytest.mark.skipif(not ipv6_loopback_available(), reason="IPv6 loopback (::1) is not available")
def test_ipv6_literal_uri() -> None:
    """ws://[::1]:port/ connects over IPv6 and sends Host with the brackets."""
    with serve(Echo, "::1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with connect(f"ws://[::1]:{port}/v6?x=1") as client:
            assert client.request_headers["Host"] == f"[::1]:{port}"
            assert client.path == "/v6?x=1"
            assert client.remote_address[0] == "::1"
            client.send("six")
            assert client.recv(timeout=5) == "six"


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1/",
        "https://127.0.0.1/",
        "wss://127.0.0.1/",
        "ws://127.0.0.1/#fragment",
        "ws://127.0.0.1/path#",
        "ws:///no-host",
        "ws://127.0.0.1:99999/",
        "127.0.0.1:8765",
    ],
)
def test_invalid_uri(uri: str) -> None:
    """Only ws:// without a fragment (RFC 6455 §3); wss:// isn't supported yet."""
    with pytest.raises(InvalidURI) as info:
        connect(uri)
    assert info.value.uri == uri


def test_wss_says_it_is_not_supported() -> None:
    with pytest.raises(InvalidURI, match="not supported"):
        connect("wss://127.0.0.1:1/")


class TaggedClient(WebSocketClientProtocol):
    tag = "class"


def tagged_client_factory(**options: Any) -> WebSocketClientProtocol:
    websocket = TaggedClient(**options)
    websocket.tag = "factory"
    return websocket


@pytest.mark.parametrize(
    ("create_protocol", "tag"),
    [(TaggedClient, "class"), (tagged_client_factory, "factory")],
    ids=["class", "factory"],
)
def test_create_protocol(create_protocol: Callable[..., WebSocketClientProtocol], tag: str) -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        with connect(server_uri(server), create_protocol=create_protocol, max_size=4321) as client:
            assert isinstance(client, TaggedClient)
            assert client.tag == tag
            assert client.max_size == 4321
            client.send("sub")
            assert client.recv(timeout=5) == "sub"


def test_pre_connected_socket() -> None:
    """sock= uses the given socket; the URI still names the Host and the resource."""
    with serve(Echo, "127.0.0.1", 0) as server:
        sock = socket.create_connection(server.sockets[0].getsockname()[:2])
        with connect("ws://example.com:8080/over?sock", sock=sock) as client:
            assert client.request_headers["Host"] == "example.com:8080"
            assert client.path == "/over?sock"
            assert client.local_address == sock.getsockname()
            client.send("through the given socket")
            assert client.recv(timeout=5) == "through the given socket"
        assert sock.fileno() == -1


# Servers that misbehave during the handshake.


def answer_with(response: bytes | Callable[[bytes], bytes]) -> Callable[[socket.socket], None]:
    """A raw server that reads the request, sends ``response`` (or builds it) and hangs up."""

    def respond(conn: socket.socket) -> None:
        head, _ = read_http_head(conn)
        conn.sendall(response(head) if callable(response) else response)

    return respond


def test_rejection_with_status_headers_and_body() -> None:
    response = (
        b"HTTP/1.1 403 Forbidden\r\nX-Reason: not on the list\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nnope\n"
    )
    with raw_server(answer_with(response)) as (host, port):
        with pytest.raises(InvalidStatusCode) as info:
            connect(f"ws://{host}:{port}/")
    assert info.value.status_code == 403
    assert info.value.headers["X-Reason"] == "not on the list"
    assert info.value.body == b"nope\n"
    assert "403" in str(info.value)


def test_plain_http_200() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world"
    with raw_server(answer_with(response)) as (host, port):
        with pytest.raises(InvalidStatusCode) as info:
            connect(f"ws://{host}:{port}/")
    assert info.value.status_code == 200
    assert info.value.body == b"hello, world"


@pytest.mark.parametrize(
    ("build", "exception"),
    [
        (
            lambda head: accept_response(head).replace(b"Accept: ", b"Accept: x"),
            InvalidHeaderValue,
        ),
        (
            lambda head: accept_response(head).replace(b"Upgrade: websocket\r\n", b""),
            InvalidUpgrade,
        ),
        (
            lambda head: accept_response(head).replace(b"Upgrade: websocket", b"Upgrade: h2c"),
            InvalidUpgrade,
        ),
        (
            lambda head: accept_response(head).replace(b"Connection: Upgrade\r\n", b""),
            InvalidUpgrade,
        ),
        (
            lambda head: accept_response(head).replace(b"Sec-WebSocket-Accept", b"X-Accept"),
            InvalidHeader,
        ),
        (
            lambda head: accept_response(head, b"Sec-WebSocket-Extensions: x-unknown\r\n"),
            NegotiationError,
        ),
        (
            lambda head: accept_response(head, b"Sec-WebSocket-Protocol: unoffered\r\n"),
            NegotiationError,
        ),
        (
            lambda head: accept_response(head, b"".join(b"X-%d: v\r\n" % i for i in range(200))),
            SecurityError,
        ),
    ],
    ids=[
        "wrong-accept",
        "no-upgrade",
        "wrong-upgrade",
        "no-connection",
        "no-accept",
        "unoffered-extension",
        "unoffered-subprotocol",
        "too-many-headers",
    ],
)
def test_invalid_101_response(
    build: Callable[[bytes], bytes], exception: type[InvalidHandshake]
) -> None:
    """RFC 6455 §4.1: the client fails the connection when the 101 response is wrong."""
    with raw_server(answer_with(build)) as (host, port):
        with pytest.raises(exception) as info:
            connect(f"ws://{host}:{port}/")
    assert isinstance(info.value, InvalidHandshake)


@pytest.mark.parametrize(
    "response",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"\x16\x03\x01\x00\x00garbage\r\n\r\n", b"HTTP/1.1 OK\r\n\r\n"],
    ids=["ssh", "binary", "no-status-code"],
)
def test_garbage_response(response: bytes) -> None:
    with raw_server(answer_with(response)) as (host, port):
        with pytest.raises(InvalidMessage):
            connect(f"ws://{host}:{port}/")


def test_server_closes_without_answering() -> None:
    with raw_server(answer_with(b"")) as (host, port):
        with pytest.raises(InvalidMessage):
            connect(f"ws://{host}:{port}/")


def test_server_closes_in_the_middle_of_the_response() -> None:
    with raw_server(answer_with(b"HTTP/1.1 101 Switching Protocols\r\nUpgr")) as (host, port):
        with pytest.raises(InvalidMessage):
            connect(f"ws://{host}:{port}/")


def test_server_never_answers() -> None:
    def respond(conn: socket.socket) -> None:
        read_until_eof(conn)  # until the client gives up

    with raw_server(respond) as (host, port):
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            connect(f"ws://{host}:{port}/", open_timeout=100 * MS)
        elapsed = time.monotonic() - start
    assert 100 * MS * 0.9 <= elapsed < 1000 * MS


def test_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect(f"ws://127.0.0.1:{port}/")


def test_frame_in_the_same_segment_as_the_101_response() -> None:
    """Bytes after the response head are the first frames, not lost."""

    def respond(conn: socket.socket) -> None:
        head, _ = read_http_head(conn)
        conn.sendall(
            accept_response(head) + frame(0x1, b"first", mask=None) + frame(0x2, b"\x02", mask=None)
        )
        answer_close(conn, bytearray())

    with raw_server(respond) as (host, port):
        with connect(f"ws://{host}:{port}/") as client:
            assert client.recv(timeout=5) == "first"
            assert client.recv(timeout=5) == b"\x02"


# After the handshake.


def test_server_closing_tcp_mid_frame() -> None:
    """The stream ends inside a frame: recv raises ConnectionClosedError 1006 at once."""
    hang_up: queue.Queue[None] = queue.Queue()

    def respond(conn: socket.socket) -> None:
        head, _ = read_http_head(conn)
        # A frame header announcing 100 bytes, then 10 of them.
        conn.sendall(accept_response(head) + frame(0x2, b"x" * 100, mask=None)[:12])
        hang_up.get(timeout=5)

    with raw_server(respond) as (host, port):
        client = connect(f"ws://{host}:{port}/")
        try:
            with pytest.raises(TimeoutError):
                client.recv(timeout=20 * MS)
            hang_up.put(None)
            start = time.monotonic()
            with pytest.raises(ConnectionClosedError) as info:
                client.recv(timeout=5)
            assert time.monotonic() - start < 1000 * MS
            assert info.value.code == 1006
            assert client.close_code == 1006
        finally:
            client.close()


def test_close_waits_for_the_server_to_close_tcp() -> None:
    """RFC 6455 §7.1.1: after the closing handshake, the server closes TCP first."""
    linger = 100 * MS
    client_closed_first: queue.Queue[bool] = queue.Queue()

    def respond(conn: socket.socket) -> None:
        head, _ = read_http_head(conn)
        conn.sendall(accept_response(head))
        assert answer_close(conn, bytearray()) == b"\x03\xe8"  # 1000, no reason
        conn.settimeout(linger)
        try:
            client_closed_first.put(conn.recv(1) == b"")
        except TimeoutError:
            client_closed_first.put(False)

    with raw_server(respond) as (host, port):
        client = connect(f"ws://{host}:{port}/", close_timeout=5)
        start = time.monotonic()
        client.close()
        elapsed = time.monotonic() - start
    assert client_closed_first.get(timeout=1000 * MS) is False
    assert linger * 0.9 <= elapsed < 1000 * MS
    assert client.closed and client.close_code == 1000


def test_close_gives_up_on_a_server_that_keeps_tcp_open() -> None:
    """A server that answers Close but never hangs up is dropped after close_timeout."""
    release: queue.Queue[None] = queue.Queue()

    def respond(conn: socket.socket) -> None:
        head, _ = read_http_head(conn)
        conn.sendall(accept_response(head))
        answer_close(conn, bytearray())
        release.get(timeout=5)

    with raw_server(respond) as (host, port):
        client = connect(f"ws://{host}:{port}/", close_timeout=100 * MS)
        start = time.monotonic()
        client.close()
        elapsed = time.monotonic() - start
        release.put(None)
    assert 100 * MS * 0.9 <= elapsed < 1000 * MS
    assert client.closed
    # The closing handshake completed; only the TCP close was forced.
    assert client.close_code == 1000


def test_context_manager_closes_with_1000() -> None:
    codes: queue.Queue[int | None] = queue.Queue()

    def handler(websocket: Any) -> None:
        try:
            for message in websocket:
                websocket.send(message)
        finally:
            codes.put(websocket.close_code)

    with serve(handler, "127.0.0.1", 0) as server:
        with connect(server_uri(server)) as client:
            client.send("x")
            assert client.recv(timeout=5) == "x"
        assert client.closed
        assert codes.get(timeout=5) == 1000
        with pytest.raises(ConnectionClosedOK):
            client.recv()
