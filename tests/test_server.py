"""The server over real loopback sockets: websockets_sync.server.

``serve`` and :class:`WebSocketServer` (listening, tracking connections,
shutting down), the handler contract, the handshake hooks and options of
:class:`WebSocketServerProtocol`, the answers to bad handshakes (RFC 6455
§4.2.1, §4.2.2 and §4.4, RFC 6585 §5), and the thread budget.
"""

from __future__ import annotations

import contextlib
import functools
import http
import logging
import queue
import signal
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from websockets_sync import (
    AbortHandshake,
    ConnectionClosedError,
    ConnectionClosedOK,
    Headers,
    InvalidStatusCode,
    WebSocketServer,
    WebSocketServerProtocol,
    connect,
    serve,
)

from .utils import (
    MS,
    Echo,
    HTTPReply,
    build_request,
    frame,
    http_exchange,
    ipv6_loopback_available,
    library_threads,
    open_raw_websocket,
    raw_client,
    read_frame,
    read_http_head,
    read_until_eof,
    server_uri,
    wait_for,
)

requires_ipv6 = pytest.mark.skipif(
    not ipv6_loopback_available(), reason="IPv6 loopback (::1) is not available on this host"
)


def assert_still_serving(server: WebSocketServer) -> None:
    """A normal client still gets a working connection."""
    with connect(server_uri(server)) as websocket:
        websocket.send("still there?")
        assert websocket.recv(timeout=5) == "still there?"


def handler_threads() -> list[threading.Thread]:
    """Connection threads of the server: one per accepted socket, handshake then handler."""
    return [t for t in library_threads() if t.name.startswith("websockets_sync-handler-")]


# Listening and lifecycle.


def test_serve_returns_a_listening_server() -> None:
    """A raw TCP connect succeeds right after serve() returns: no startup race."""
    with serve(Echo, "127.0.0.1", 0) as server:
        assert isinstance(server, WebSocketServer)
        assert len(server.sockets) == 1
        host, port = server.sockets[0].getsockname()[:2]
        assert host == "127.0.0.1" and port != 0
        with socket.create_connection((host, port), timeout=1000 * MS) as sock:
            assert open_raw_websocket(sock) == b""


def test_connections_tracks_open_connections() -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        assert server.connections == set()
        first = connect(server_uri(server))
        second = connect(server_uri(server))
        wait_for(lambda: len(server.connections) == 2, what="two connections")
        assert all(isinstance(c, WebSocketServerProtocol) for c in server.connections)
        assert {c.remote_address for c in server.connections} == {
            first.local_address,
            second.local_address,
        }
        # A copy: mutating it doesn't touch the server's bookkeeping.
        server.connections.clear()
        assert len(server.connections) == 2
        first.close()
        wait_for(lambda: len(server.connections) == 1, what="first connection dropped")
        (remaining,) = server.connections
        assert remaining.remote_address == second.local_address
        second.close()
        wait_for(lambda: not server.connections, what="no connection left")


def test_context_manager_closes_the_server() -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        address = server.sockets[0].getsockname()[:2]
    server.wait_closed(timeout=0)
    assert all(sock.fileno() == -1 for sock in server.sockets)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=1000 * MS).close()


def test_serve_forever_blocks_until_close_from_another_thread() -> None:
    server = serve(Echo, "127.0.0.1", 0)
    runner = threading.Thread(target=server.serve_forever)
    runner.start()
    try:
        runner.join(50 * MS)
        assert runner.is_alive()
        assert_still_serving(server)
    finally:
        server.close()
    runner.join(1)
    assert not runner.is_alive()


def test_serve_forever_is_interrupted_by_sigint_received_by_another_thread() -> None:
    """Ctrl-C stops serve_forever() even when the kernel hands SIGINT to another thread.

    Python runs its signal handler in the main thread, once that thread runs
    Python code again; a wait without a timeout never does.
    """
    server = serve(Echo, "127.0.0.1", 0)
    done = threading.Event()

    def interrupt() -> None:
        time.sleep(20 * MS)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        # Unblock serve_forever() if the interrupt is lost, so the test fails fast.
        if not done.wait(2000 * MS):
            server.close()

    interrupter = threading.Thread(target=interrupt)
    start = time.monotonic()
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            server.serve_forever()
        assert time.monotonic() - start < 1000 * MS
    finally:
        done.set()
        server.close()
        interrupter.join()


def test_close_is_idempotent() -> None:
    server = serve(Echo, "127.0.0.1", 0)
    server.close()
    server.close()
    with server:
        pass
    server.wait_closed(timeout=0)


def test_close_from_inside_a_handler() -> None:
    """A handler may shut the server down: close() doesn't wait for its own thread."""

    returned: queue.Queue[bool] = queue.Queue()

    def handler(websocket: WebSocketServerProtocol) -> None:
        assert websocket.ws_server is not None
        websocket.ws_server.close()
        # close() started the closing handshake of this connection too.
        returned.put(websocket.open)

    with serve(handler, "127.0.0.1", 0) as server:
        with connect(server_uri(server)) as client:
            assert returned.get(timeout=2000 * MS) is False
            server.wait_closed(timeout=0)
            with pytest.raises(ConnectionClosedOK) as info:
                client.recv(timeout=2000 * MS)
            assert info.value.code == 1001


def test_wait_closed() -> None:
    server = serve(Echo, "127.0.0.1", 0)
    with pytest.raises(TimeoutError):
        server.wait_closed(timeout=10 * MS)
    closer = threading.Timer(20 * MS, server.close)
    closer.start()
    start = time.monotonic()
    server.wait_closed(timeout=5)
    assert time.monotonic() - start < 1000 * MS
    closer.join()


# The handler.


def handler_with_path(websocket: Any, path: str) -> None:
    websocket.send(f"path={path}")


def handler_without_path(websocket: Any) -> None:
    websocket.send(f"no path, attribute={websocket.path}")


def handler_with_path_and_extra(websocket: Any, path: str, *, extra: str) -> None:
    websocket.send(f"path={path} extra={extra}")


def handler_without_path_with_extra(websocket: Any, *, extra: str) -> None:
    websocket.send(f"extra={extra}")


class HandlerHolder:
    def method(self, websocket: Any) -> None:
        websocket.send("bound method")

    def __call__(self, websocket: Any, path: str) -> None:
        websocket.send(f"callable object path={path}")


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (handler_with_path, "path=/chat?room=1"),
        (handler_without_path, "no path, attribute=/chat?room=1"),
        (
            functools.partial(handler_with_path_and_extra, extra="x"),
            "path=/chat?room=1 extra=x",
        ),
        (functools.partial(handler_without_path_with_extra, extra="y"), "extra=y"),
        (HandlerHolder().method, "bound method"),
        (HandlerHolder(), "callable object path=/chat?room=1"),
        (lambda websocket: websocket.send("lambda"), "lambda"),
    ],
    ids=["path", "no-path", "partial-path", "partial-no-path", "method", "object", "lambda"],
)
def test_handler_signatures(handler: Any, expected: str) -> None:
    """handler(websocket, path) and handler(websocket), directly or wrapped, get what they ask."""
    with serve(handler, "127.0.0.1", 0) as server:
        with connect(server_uri(server, "/chat?room=1")) as client:
            assert client.recv(timeout=5) == expected


def test_handler_returning_closes_with_1000() -> None:
    with serve(lambda websocket: websocket.send("bye"), "127.0.0.1", 0) as server:
        with connect(server_uri(server)) as client:
            assert client.recv(timeout=5) == "bye"
            with pytest.raises(ConnectionClosedOK) as info:
                client.recv(timeout=5)
            assert info.value.code == 1000


def test_handler_exception_is_logged_and_closes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(websocket: Any) -> None:
        raise RuntimeError("handler bug")

    caplog.set_level(logging.DEBUG, logger="websockets_sync")
    with serve(handler, "127.0.0.1", 0) as server:
        with connect(server_uri(server)) as client:
            with pytest.raises(ConnectionClosedError) as info:
                client.recv(timeout=5)
            assert info.value.code == 1011
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    (record,) = errors
    assert record.name == "websockets_sync.server"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "handler bug" in caplog.text  # the traceback is in the output


def test_handler_stopped_by_connection_closed_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client going away is business as usual, not a handler failure."""
    stopped = threading.Event()

    def handler(websocket: Any) -> None:
        try:
            websocket.recv()
        finally:
            stopped.set()

    caplog.set_level(logging.DEBUG, logger="websockets_sync")
    with serve(handler, "127.0.0.1", 0) as server:
        with connect(server_uri(server)):
            pass
        assert stopped.wait(5)
        wait_for(lambda: not server.connections, what="handler done")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# Shutting down.


def test_close_sends_1001_and_waits_for_handlers() -> None:
    finished: queue.Queue[str] = queue.Queue()

    def handler(websocket: Any) -> None:
        try:
            websocket.recv()
        except ConnectionClosedOK as exc:
            time.sleep(20 * MS)  # some cleanup, which close() waits for
            finished.put(f"handler saw {exc.code}")

    server = serve(handler, "127.0.0.1", 0)
    clients = [connect(server_uri(server)) for _ in range(3)]
    wait_for(lambda: len(server.connections) == 3, what="three connections")
    server.close()
    assert finished.qsize() == 3
    assert {finished.get_nowait() for _ in range(3)} == {"handler saw 1001"}
    for client in clients:
        with pytest.raises(ConnectionClosedOK) as info:
            client.recv(timeout=5)
        assert info.value.code == 1001
        assert info.value.reason == "server shutting down"
        client.close()


class SlowToOpen(WebSocketServerProtocol):
    """Widens the window between sending the 101 response and being a tracked connection."""

    def connection_open(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(50 * MS)
        super().connection_open(*args, **kwargs)


def test_close_right_after_the_handshake_sends_1001() -> None:
    """A connection whose 101 response was sent is closed with 1001, never just dropped."""
    with serve(Echo, "127.0.0.1", 0, create_protocol=SlowToOpen) as server:
        with connect(server_uri(server)) as client:
            # The server's connection thread is still setting the connection up.
            server.close()
            client.wait_closed(timeout=5)
            assert client.close_code == 1001


def test_close_does_not_wait_forever_for_a_stuck_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that ignores the close is waited on within a bound set by close_timeout."""
    release = threading.Event()

    def handler(websocket: Any) -> None:
        release.wait(10)

    caplog.set_level(logging.INFO, logger="websockets_sync")
    server = serve(handler, "127.0.0.1", 0, close_timeout=50 * MS)
    try:
        with connect(server_uri(server)) as client:
            wait_for(lambda: len(server.connections) == 1, what="connection")
            start = time.monotonic()
            server.close()
            elapsed = time.monotonic() - start
            assert elapsed < 1000 * MS
            client.wait_closed(timeout=5)
            assert client.close_code == 1001
        assert "still running after server close" in caplog.text
    finally:
        release.set()


def test_close_drops_connections_still_in_the_handshake() -> None:
    server = serve(Echo, "127.0.0.1", 0, open_timeout=10)
    try:
        with raw_client(server) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            wait_for(lambda: handler_threads(), what="handshake thread")
            start = time.monotonic()
            server.close()
            assert time.monotonic() - start < 1000 * MS
            # No 101, no hanging: the server hung up.
            assert b"101" not in read_until_eof(sock, timeout=1000 * MS)
    finally:
        server.close()


# process_request.


def health_check(path: str, request_headers: Headers) -> Any:
    if path == "/health":
        return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"OK\n"
    return None


class HealthCheckProtocol(WebSocketServerProtocol):
    def process_request(self, path: str, request_headers: Headers) -> Any:
        return health_check(path, request_headers)


@pytest.mark.parametrize(
    "options",
    [{"process_request": health_check}, {"create_protocol": HealthCheckProtocol}],
    ids=["option", "subclass"],
)
def test_process_request_answers_a_health_check(options: dict[str, Any]) -> None:
    with serve(Echo, "127.0.0.1", 0, **options) as server:
        # Over plain HTTP, as a load balancer would ask.
        reply = HTTPReply(http_exchange(server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        assert reply.status == 200
        assert reply.header("Content-Type") == "text/plain"
        assert reply.header("Content-Length") == "3"
        assert reply.body == b"OK\n"
        # A WebSocket client gets the same answer as a failed handshake.
        with pytest.raises(InvalidStatusCode) as info:
            connect(server_uri(server, "/health"))
        assert info.value.status_code == 200
        assert info.value.body == b"OK\n"
        # None lets the handshake go on.
        assert_still_serving(server)


def test_process_request_can_abort_with_401() -> None:
    def authenticate(path: str, request_headers: Headers) -> None:
        if request_headers.get("Authorization") != "Bearer secret":
            raise AbortHandshake(
                http.HTTPStatus.UNAUTHORIZED,
                Headers({"WWW-Authenticate": 'Bearer realm="test"'}),
                b"who are you?\n",
            )

    with serve(Echo, "127.0.0.1", 0, process_request=authenticate) as server:
        with pytest.raises(InvalidStatusCode) as info:
            connect(server_uri(server))
        assert info.value.status_code == 401
        assert info.value.headers["WWW-Authenticate"] == 'Bearer realm="test"'
        assert info.value.body == b"who are you?\n"
        with connect(
            server_uri(server), extra_headers={"Authorization": "Bearer secret"}
        ) as client:
            client.send("in")
            assert client.recv(timeout=5) == "in"


def test_process_request_sees_path_and_headers() -> None:
    seen: list[tuple[str, str | None]] = []

    def record(path: str, request_headers: Headers) -> None:
        seen.append((path, request_headers.get("X-Token")))

    with serve(Echo, "127.0.0.1", 0, process_request=record) as server:
        with connect(server_uri(server, "/a/b?c=d"), extra_headers=[("X-Token", "t")]):
            pass
    assert seen == [("/a/b?c=d", "t")]


def crashing_process_request(path: str, request_headers: Headers) -> None:
    raise RuntimeError("hook bug")


def crashing_extra_headers(path: str, request_headers: Headers) -> Headers:
    raise RuntimeError("hook bug")


def select_unoffered(client_subprotocols: Sequence[str], server: Sequence[str]) -> str:
    return "never-offered"  # RFC 6455 §4.2.2: must be one the client offered


@pytest.mark.parametrize(
    "options",
    [
        {"process_request": crashing_process_request},
        {"extra_headers": crashing_extra_headers},
        {"select_subprotocol": select_unoffered},
        {"process_request": lambda path, headers: (999, [], b"")},
    ],
    ids=["process_request", "extra_headers", "select_subprotocol", "invalid-status"],
)
def test_hook_failure_answers_500_and_logs(
    options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a hook gets a 500 and a traceback at ERROR, like a handler bug."""
    caplog.set_level(logging.INFO, logger="websockets_sync")
    with serve(Echo, "127.0.0.1", 0, **options) as server:
        with pytest.raises(InvalidStatusCode) as info:
            connect(server_uri(server), subprotocols=["chat"])
        assert info.value.status_code == 500
        assert b"hook bug" not in info.value.body  # no details leak to the client
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert errors[0].name == "websockets_sync.server"


# Subprotocols, origins, headers, create_protocol.


def send_subprotocol(websocket: Any) -> None:
    websocket.send(str(websocket.subprotocol))


def test_subprotocols_negotiation_prefers_the_server_order() -> None:
    with serve(send_subprotocol, "127.0.0.1", 0, subprotocols=["chat", "superchat"]) as server:
        with connect(server_uri(server), subprotocols=["superchat", "chat"]) as client:
            assert client.subprotocol == "chat"
            assert client.recv(timeout=5) == "chat"
        with connect(server_uri(server), subprotocols=["other"]) as client:
            assert client.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in client.response_headers
            assert client.recv(timeout=5) == "None"
        with connect(server_uri(server)) as client:
            assert client.subprotocol is None


def pick_last(client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]) -> str | None:
    candidates = [s for s in client_subprotocols if s in server_subprotocols]
    return candidates[-1] if candidates else None


class PickLastProtocol(WebSocketServerProtocol):
    def select_subprotocol(
        self, client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
    ) -> str | None:
        return pick_last(client_subprotocols, server_subprotocols)


@pytest.mark.parametrize(
    "options",
    [{"select_subprotocol": pick_last}, {"create_protocol": PickLastProtocol}],
    ids=["option", "subclass"],
)
def test_select_subprotocol(options: dict[str, Any]) -> None:
    with serve(send_subprotocol, "127.0.0.1", 0, subprotocols=["a", "b", "c"], **options) as server:
        with connect(server_uri(server), subprotocols=["a", "b", "z"]) as client:
            assert client.subprotocol == "b"
            assert client.recv(timeout=5) == "b"


def test_origins() -> None:
    """RFC 6455 §4.2.2 and §10.2: a server that checks Origin answers 403 to others."""
    with serve(Echo, "127.0.0.1", 0, origins=["https://good.example"]) as server:
        with connect(server_uri(server), origin="https://good.example") as client:
            assert client.request_headers["Origin"] == "https://good.example"
        with pytest.raises(InvalidStatusCode) as info:
            connect(server_uri(server), origin="https://evil.example")
        assert info.value.status_code == 403
        with pytest.raises(InvalidStatusCode) as info:
            connect(server_uri(server))
        assert info.value.status_code == 403
        assert_still_serving_with_origin(server, "https://good.example")


def assert_still_serving_with_origin(server: WebSocketServer, origin: str) -> None:
    with connect(server_uri(server), origin=origin) as websocket:
        websocket.send("ok")
        assert websocket.recv(timeout=5) == "ok"


def test_origins_with_none_allows_requests_without_origin() -> None:
    with serve(Echo, "127.0.0.1", 0, origins=[None, "https://good.example"]) as server:
        with connect(server_uri(server)) as client:
            assert "Origin" not in client.request_headers
        with connect(server_uri(server), origin="https://good.example"):
            pass
        with pytest.raises(InvalidStatusCode) as info:
            connect(server_uri(server), origin="https://evil.example")
        assert info.value.status_code == 403


def test_extra_headers_static() -> None:
    with serve(Echo, "127.0.0.1", 0, extra_headers=[("X-Static", "yes")]) as server:
        with connect(server_uri(server)) as client:
            assert client.response_headers["X-Static"] == "yes"


def test_extra_headers_callable() -> None:
    def extra(path: str, request_headers: Headers) -> dict[str, str]:
        return {"X-Path": path, "X-Echo": request_headers["X-Ask"]}

    with serve(Echo, "127.0.0.1", 0, extra_headers=extra) as server:
        with connect(server_uri(server, "/p?q"), extra_headers={"X-Ask": "42"}) as client:
            assert client.response_headers["X-Path"] == "/p?q"
            assert client.response_headers["X-Echo"] == "42"


def test_server_header() -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        with connect(server_uri(server)) as client:
            assert "websockets_sync" in client.response_headers["Server"]
    with serve(Echo, "127.0.0.1", 0, server_header="Custom/1.0") as server:
        with connect(server_uri(server)) as client:
            assert client.response_headers["Server"] == "Custom/1.0"
    with serve(Echo, "127.0.0.1", 0, server_header=None) as server:
        with connect(server_uri(server)) as client:
            assert "Server" not in client.response_headers
        reply = HTTPReply(http_exchange(server, build_request(drop=("Upgrade",))))
        assert reply.header("Server") is None


class TaggedProtocol(WebSocketServerProtocol):
    tag = "tagged"


def tagged_factory(*args: Any, **kwargs: Any) -> WebSocketServerProtocol:
    websocket = TaggedProtocol(*args, **kwargs)
    websocket.tag = "from factory"
    return websocket


@pytest.mark.parametrize(
    ("create_protocol", "expected"),
    [(TaggedProtocol, "tagged"), (tagged_factory, "from factory")],
    ids=["class", "factory"],
)
def test_create_protocol(create_protocol: Any, expected: str) -> None:
    def handler(websocket: Any) -> None:
        websocket.send(f"{type(websocket).__name__} {websocket.tag} {websocket.max_size}")

    with serve(handler, "127.0.0.1", 0, create_protocol=create_protocol, max_size=1234) as server:
        with connect(server_uri(server)) as client:
            assert client.recv(timeout=5) == f"TaggedProtocol {expected} 1234"


# Bad handshakes: the RFC's answer, and the server goes on serving.


@pytest.mark.parametrize(
    ("request_bytes", "status", "headers"),
    [
        (build_request(drop=("Upgrade",)), 426, {"Upgrade": "websocket"}),
        (build_request(Upgrade="h2c"), 426, {"Upgrade": "websocket"}),
        (build_request(drop=("Connection",)), 426, {"Upgrade": "websocket"}),
        (build_request(drop=("Sec-WebSocket-Key",)), 400, {}),
        (build_request(Sec_WebSocket_Key="not base64!"), 400, {}),
        (build_request(Sec_WebSocket_Key="c2hvcnQ="), 400, {}),
        (build_request(Sec_WebSocket_Version="8"), 426, {"Sec-WebSocket-Version": "13"}),
        (build_request(drop=("Sec-WebSocket-Version",)), 426, {"Sec-WebSocket-Version": "13"}),
        (build_request(drop=("Host",)), 400, {}),
        (build_request(request_line="POST / HTTP/1.1"), 400, {}),
        (build_request(request_line="GET / HTTP/1.0"), 400, {}),
        (build_request(extra=tuple((f"X-H{i}", "v") for i in range(200))), 431, {}),
        (build_request(extra=(("X-Long", "v" * 10000),)), 431, {}),
    ],
    ids=[
        "no-upgrade",
        "wrong-upgrade",
        "no-connection",
        "no-key",
        "key-not-base64",
        "key-too-short",
        "version-8",
        "no-version",
        "no-host",
        "post",
        "http-1.0",
        "too-many-headers",
        "header-line-too-long",
    ],
)
def test_bad_handshake_is_answered_and_server_goes_on(
    request_bytes: bytes, status: int, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_sync")
    with serve(Echo, "127.0.0.1", 0) as server:
        reply = HTTPReply(http_exchange(server, request_bytes))
        assert reply.status == status, reply.status_line
        for name, value in headers.items():
            received = reply.header(name)
            assert received is not None and value.lower() in received.lower(), name
        assert reply.header("Content-Length") == str(len(reply.body))
        assert_still_serving(server)
    infos = [
        r
        for r in caplog.records
        if r.name == "websockets_sync.server" and r.levelno == logging.INFO
    ]
    assert any(str(status) in r.getMessage() for r in infos)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_frame_in_the_same_segment_as_the_request() -> None:
    """Bytes after the request head are the client's first frames, not lost."""
    with serve(Echo, "127.0.0.1", 0, compression=None) as server, raw_client(server) as sock:
        sock.sendall(build_request() + frame(0x1, b"eager"))
        head, rest = read_http_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert read_frame(sock, bytearray(rest)) == (0x1, True, b"eager")


def test_request_trickled_one_byte_at_a_time() -> None:
    with serve(Echo, "127.0.0.1", 0) as server, raw_client(server) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in build_request():
            sock.send(bytes([byte]))
        head, _ = read_http_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")


def test_non_http_bytes_are_rejected() -> None:
    """A TLS ClientHello on a ws:// port gets a 400 or a hang-up, never a hang."""
    client_hello = bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00\x00\x02\x13\x01"
    with serve(Echo, "127.0.0.1", 0) as server:
        start = time.monotonic()
        answer = http_exchange(server, client_hello, timeout=2000 * MS)
        assert time.monotonic() - start < 1000 * MS
        assert answer == b"" or HTTPReply(answer).status == 400
        assert_still_serving(server)


def test_silent_client_is_dropped_after_open_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets_sync")
    with serve(Echo, "127.0.0.1", 0, open_timeout=150 * MS) as server:
        with raw_client(server) as silent:
            start = time.monotonic()
            # Others are served while the silent client waits.
            assert_still_serving(server)
            assert read_until_eof(silent, timeout=2000 * MS) == b""
            elapsed = time.monotonic() - start
            assert 150 * MS * 0.9 <= elapsed < 1000 * MS
    assert any(
        r.levelno == logging.INFO and "opening handshake failed" in r.getMessage()
        for r in caplog.records
    )


def test_client_sending_half_a_request_and_vanishing() -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        baseline = len(handler_threads())
        with raw_client(server) as sock:
            sock.sendall(build_request()[:40])
            wait_for(lambda: len(handler_threads()) == baseline + 1, what="handshake thread")
        # The server notices the hang-up and frees the thread at once.
        wait_for(lambda: len(handler_threads()) == baseline, timeout=1000 * MS, what="thread freed")
        assert_still_serving(server)


# Options.


@pytest.mark.parametrize(
    ("options", "exception"),
    [
        ({"max_sise": 1000}, TypeError),
        ({"compression": "gzip"}, ValueError),
        ({"create_protocol": TaggedProtocol, "max_sise": 1000}, TypeError),
    ],
    ids=["typo", "bad-compression", "typo-with-subclass"],
)
def test_invalid_options_fail_at_serve(options: dict[str, Any], exception: type) -> None:
    """A bad option raises from serve(), not in every connection thread."""
    with pytest.raises(exception):
        serve(Echo, "127.0.0.1", 0, **options)


def test_logger_option(caplog: pytest.LogCaptureFixture) -> None:
    """The logger option replaces websockets_sync.server, for the server and its connections."""

    def handler(websocket: Any) -> None:
        raise RuntimeError("handler bug")

    caplog.set_level(logging.INFO, logger="myapp.ws")
    with serve(handler, "127.0.0.1", 0, logger=logging.getLogger("myapp.ws")) as server:
        with connect(server_uri(server)) as client:
            client.wait_closed(timeout=5)
    names = {r.name for r in caplog.records if r.name.startswith("myapp")}
    assert names == {"myapp.ws"}
    assert "server listening" in caplog.text
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.name for r in errors] == ["myapp.ws"]


# Addresses.


@requires_ipv6
def test_ipv6_only() -> None:
    with serve(Echo, "::1", 0) as server:
        assert server.sockets[0].family == socket.AF_INET6
        assert server_uri(server).startswith("ws://[::1]:")
        assert_still_serving(server)


@requires_ipv6
def test_list_of_hosts_share_one_port_ipv4_and_ipv6() -> None:
    with serve(Echo, ["127.0.0.1", "::1"], 0) as server:
        assert sorted(s.family for s in server.sockets) == [socket.AF_INET, socket.AF_INET6]
        ports = {s.getsockname()[1] for s in server.sockets}
        assert len(ports) == 1
        (port,) = ports
        for uri in (f"ws://127.0.0.1:{port}/", f"ws://[::1]:{port}/"):
            with connect(uri) as client:
                client.send(uri)
                assert client.recv(timeout=5) == uri


def test_list_of_hosts_share_one_port() -> None:
    """Port 0 with two addresses: the second listens on the port picked for the first."""
    with serve(Echo, ["127.0.0.1", "127.0.0.2"], 0) as server:
        assert [s.getsockname()[0] for s in server.sockets] == ["127.0.0.1", "127.0.0.2"]
        ports = {s.getsockname()[1] for s in server.sockets}
        assert len(ports) == 1
        (port,) = ports
        for host in ("127.0.0.1", "127.0.0.2"):
            with connect(f"ws://{host}:{port}/") as client:
                client.send(host)
                assert client.recv(timeout=5) == host
                assert client.remote_address[0] == host


@requires_ipv6
def test_all_interfaces() -> None:
    """host=None listens on every interface, IPv4 and IPv6 on separate sockets."""
    with serve(Echo, None, 0) as server:
        port = server.sockets[0].getsockname()[1]
        assert {s.getsockname()[1] for s in server.sockets} == {port}
        for uri in (f"ws://127.0.0.1:{port}/", f"ws://[::1]:{port}/"):
            with connect(uri) as client:
                client.send("hi")
                assert client.recv(timeout=5) == "hi"


def test_pre_bound_socket() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    with serve(Echo, sock=listener) as server:
        assert server.sockets == [listener]
        with connect(f"ws://127.0.0.1:{address[1]}/") as client:
            client.send("via sock=")
            assert client.recv(timeout=5) == "via sock="
    assert listener.fileno() == -1


def test_address_in_use() -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(OSError):
            serve(Echo, "127.0.0.1", port)
        assert_still_serving(server)


def test_address_in_use_on_the_second_host_releases_the_first() -> None:
    """When one of several addresses can't be bound, serve() raises and closes the others."""
    with socket.create_server(("127.0.0.2", 0)) as occupier:
        port = occupier.getsockname()[1]
        with pytest.raises(OSError):
            serve(Echo, ["127.0.0.1", "127.0.0.2"], port)
    # The leak check of conftest.py sees the 127.0.0.1 socket if it stayed open;
    # binding it again shows it is free.
    socket.create_server(("127.0.0.1", port)).close()


def test_localhost() -> None:
    with serve(Echo, "localhost", 0) as server:
        port = server.sockets[0].getsockname()[1]
        assert all(s.getsockname()[1] == port for s in server.sockets)
        with connect(f"ws://localhost:{port}/") as client:
            client.send("local")
            assert client.recv(timeout=5) == "local"


# Threads.


def test_thread_budget() -> None:
    """Idle connections cost at most two threads each, plus the accept and timer threads."""
    connections = 20
    before = library_threads()
    with serve(lambda websocket: websocket.wait_closed(), "127.0.0.1", 0) as server:
        sockets = []
        try:
            for _ in range(connections):
                sock = socket.create_connection(server.sockets[0].getsockname()[:2], timeout=5)
                sockets.append(sock)
                open_raw_websocket(sock)
            wait_for(lambda: len(server.connections) == connections, what="all connections")
            started = library_threads() - before
            names = sorted(t.name for t in started)
            assert len(started) <= 2 * connections + 2, names
            # And the budget is what it claims: a connection thread and a reader each.
            assert sum(name.startswith("websockets_sync-handler-") for name in names) == 20
            assert sum(name.startswith("websockets_sync-reader-") for name in names) == 20
            assert sum(name == "websockets_sync-accept" for name in names) == 1
        finally:
            for sock in sockets:
                sock.close()
        wait_for(lambda: not server.connections, what="connections closed")


def test_vanished_client_frees_the_connection_thread() -> None:
    """A handler that reads for itself needs no reader thread; its thread ends with the client."""
    with serve(Echo, "127.0.0.1", 0) as server:
        before = library_threads()
        with raw_client(server) as sock:
            open_raw_websocket(sock)
            wait_for(lambda: len(server.connections) == 1, what="connection")
            (websocket,) = server.connections
            wait_for(lambda: websocket._caller_reading, what="the handler to read")
            started = {t.name for t in library_threads() - before}
            assert len(started - {"websockets_sync-timers"}) == 1, started
        wait_for(
            lambda: not (library_threads() - before), timeout=2000 * MS, what="threads to exit"
        )
        assert server.connections == set()


def test_server_closes_tcp_right_after_the_closing_handshake() -> None:
    """RFC 6455 §7.1.1: the server closes the TCP connection first, without waiting
    for the client's FIN, so even a client that keeps its socket open is released."""
    handled = threading.Event()

    def handler(websocket: Any) -> None:
        for _ in websocket:
            pass
        handled.set()

    with serve(handler, "127.0.0.1", 0, close_timeout=5) as server:
        with raw_client(server) as sock:
            buffer = bytearray(open_raw_websocket(sock))
            wait_for(lambda: server.connections, what="the connection to open")
            (websocket,) = server.connections
            sock.sendall(frame(0x8, (1000).to_bytes(2, "big")))
            assert read_frame(sock, buffer) == (0x8, True, (1000).to_bytes(2, "big"))
            # The client doesn't close its socket; the server is done anyway.
            start = time.monotonic()
            websocket.wait_closed(timeout=5)
            assert time.monotonic() - start < 1
            assert handled.wait(5)
            sock.settimeout(5)
            assert sock.recv(4096) == b""


def test_a_reader_stuck_writing_does_not_hold_back_other_connections() -> None:
    """Reader threads take turns, process-wide, to parse what they read; the turn
    is never held over socket I/O, so a peer that sends pings and never reads the
    pongs stalls only its own connection."""
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")

    def echo(websocket: Any) -> None:
        for message in websocket:
            websocket.send(message)

    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with raw_client(server) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            open_raw_websocket(sock)
            wait_for(lambda: server.connections, what="the connection to open")
            (stuck,) = server.connections
            pings = frame(0x9, b"p" * 125) * 64
            sent = 0  # into pings: the stream stays whole across timeouts
            sock.settimeout(50 * MS)

            def unread() -> int:
                return int.from_bytes(fcntl.ioctl(sock, termios.FIONREAD, bytes(4)), "little")

            def blocked() -> bool:
                """Whether the server is writing, and no byte of it reaches us for 300 ms.

                Writing at two instants alone could be two writes by a server
                slowed down by a busy machine; bytes that stop arriving while it
                writes mean our receive window is closed, and it stays closed.
                """
                if not stuck._writing:
                    return False
                queued = unread()
                for _ in range(3):
                    time.sleep(100 * MS)
                    if not stuck._writing or unread() != queued:
                        return False
                return True

            # Pings until the server's pongs fill every buffer on the way and its
            # reader blocks writing them; then our own sends stop going out.
            deadline = time.monotonic() + 10
            while not blocked():
                assert time.monotonic() < deadline, "the reader never blocked writing pongs"
                with contextlib.suppress(TimeoutError):
                    sent = (sent + sock.send(pings[sent:])) % len(pings)
            with connect(server_uri(server), compression=None) as websocket:
                for size in (16, 100_000):
                    websocket.send(b"x" * size)
                    assert websocket.recv(timeout=5) == b"x" * size
            assert stuck._writing
