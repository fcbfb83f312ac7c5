"""The asyncio facade over real loopback sockets: websockets_sync.asyncio.

Classic ``websockets`` programs run with only their import line changed; the
server and client contracts of the sync face hold for coroutines; waiting holds
no thread, cancelling loses no message, and a blocked send never blocks the loop.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import random
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

import websockets_sync
import websockets_sync.asyncio as websockets
from websockets_sync.asyncio import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    Headers,
    InvalidStatusCode,
    InvalidURI,
    WebSocketClientProtocol,
    WebSocketCommonProtocol,
    WebSocketServer,
    WebSocketServerProtocol,
)
from websockets_sync.sansio.protocol import State

from ..utils import (
    MS,
    accept_response,
    library_threads,
    raw_server,
    read_client_frame,
    read_http_head,
    server_uri,
    wait_for,
)
from .utils import (
    Ticker,
    connect_when_ready,
    free_port,
    python_interpreters,
    run,
    script,
    sync_peer,
    until,
)


async def echo(websocket: WebSocketServerProtocol) -> None:
    async for message in websocket:
        await websocket.send(message)


async def hold(websocket: WebSocketServerProtocol) -> None:
    """A handler that keeps the connection open until the client closes it."""
    await websocket.wait_closed()


def reader_threads() -> list[threading.Thread]:
    return [t for t in library_threads() if t.name.startswith("websockets_sync-reader-")]


def handshake_threads() -> list[threading.Thread]:
    return [t for t in library_threads() if t.name.startswith("websockets_sync-handler-")]


def threads_but_process_wide_helpers() -> int:
    """Live threads, less the timer thread and the idle poller, which come and go."""
    helpers = ("websockets_sync-timers", "websockets_sync-idle")
    return sum(1 for t in threading.enumerate() if t.name not in helpers)


# Time for a Python subprocess to start, or to exit once terminated.
SUBPROCESS_TIMEOUT = 10_000 * MS

# The example, verbatim but for the import line; 8765 becomes a free port.
CLASSIC_EXAMPLE = """\
import asyncio
import functools

import websockets_sync.asyncio as websockets


async def handler(websocket, path, extra_argument):
    async for message in websocket:
        await websocket.send(message)

bound_handler = functools.partial(handler, extra_argument="spam")
start_server = websockets.serve(bound_handler, "127.0.0.1", 8765)
asyncio.get_event_loop().run_until_complete(start_server)
asyncio.get_event_loop().run_forever()
"""


# Classic programs.


@pytest.mark.parametrize("python", python_interpreters())
def test_classic_example_runs_verbatim(python: str) -> None:
    """The classic example, only its import changed, serves in its own process."""
    port = free_port()
    code = CLASSIC_EXAMPLE.replace("8765", str(port))
    with script(["-c", code], python) as process:
        uri = f"ws://127.0.0.1:{port}/"
        with connect_when_ready(process, uri, SUBPROCESS_TIMEOUT) as websocket:
            websocket.send("Hello")
            assert websocket.recv(timeout=5) == "Hello"
            websocket.send(b"\x00\xff")
            assert websocket.recv(timeout=5) == b"\x00\xff"
            websocket.send(["frag", "mented"])
            assert websocket.recv(timeout=5) == "fragmented"
        assert websocket.close_code == 1000
        assert process.poll() is None, "the server must run forever"
        process.terminate()
        _, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert "Traceback" not in stderr, stderr


def test_run_until_complete_and_run_forever() -> None:
    """``loop.run_until_complete(serve(...))`` then ``loop.run_forever()``."""
    loop = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(websockets.serve(echo, "127.0.0.1", 0))
        assert isinstance(server, WebSocketServer)
        answers: list[Any] = []

        def client() -> None:
            try:
                with websockets_sync.connect(server_uri(server)) as websocket:
                    websocket.send("ping?")
                    answers.append(websocket.recv(timeout=5))
            finally:
                loop.call_soon_threadsafe(loop.stop)

        thread = threading.Thread(target=client, name="test-client")
        thread.start()
        loop.run_forever()
        thread.join()
        assert answers == ["ping?"]
        server.close()
        loop.run_until_complete(server.wait_closed())
        assert not server.is_serving()
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def test_asyncio_run_with_context_managers() -> None:
    async def main() -> Any:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                assert isinstance(websocket, WebSocketClientProtocol)
                await websocket.send("hi")
                return await websocket.recv()

    assert run(main()) == "hi"


def test_serve_is_awaitable() -> None:
    async def main() -> None:
        server = await websockets.serve(echo, "127.0.0.1", 0)
        assert isinstance(server, WebSocketServer)
        assert server.is_serving()
        host, port = server.sockets[0].getsockname()[:2]
        assert (host, port != 0) == ("127.0.0.1", True)
        websocket = await websockets.connect(server_uri(server))
        await websocket.send(b"bytes")
        assert await websocket.recv() == b"bytes"
        await websocket.close()
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await websockets.connect(f"ws://127.0.0.1:{port}/")

    run(main())


# The handler contract.


async def with_path(websocket: WebSocketServerProtocol, path: str) -> None:
    await websocket.send(f"path {path}")


async def without_path(websocket: WebSocketServerProtocol) -> None:
    await websocket.send(f"no path {websocket.path}")


async def with_extra(websocket: WebSocketServerProtocol, path: str, extra: str) -> None:
    await websocket.send(f"{extra} {path}")


async def websocket_and_extra(websocket: WebSocketServerProtocol, *, extra: str) -> None:
    await websocket.send(f"{extra} only")


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (with_path, "path /chat?room=1"),
        (without_path, "no path /chat?room=1"),
        (functools.partial(with_extra, extra="spam"), "spam /chat?room=1"),
        (functools.partial(websocket_and_extra, extra="eggs"), "eggs only"),
    ],
    ids=["websocket-path", "websocket", "partial-with-path", "partial-without-path"],
)
def test_handler_signatures(handler: Any, expected: str) -> None:
    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server, "/chat?room=1")) as websocket:
                assert await websocket.recv() == expected

    run(main())


def test_handler_is_a_task_in_the_server_loop() -> None:
    seen: dict[str, Any] = {}

    async def handler(websocket: WebSocketServerProtocol) -> None:
        seen["loop"] = asyncio.get_running_loop()
        seen["task"] = asyncio.current_task()
        seen["thread"] = threading.current_thread()
        seen["connections"] = server.connections
        seen["websocket"] = websocket

    async def main() -> None:
        nonlocal server
        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                await websocket.wait_closed()
            assert seen["loop"] is asyncio.get_running_loop()
            await until(lambda: not server.connections, what="the connection to be forgotten")

    server: Any = None
    run(main())
    assert seen["task"] is not None
    assert seen["thread"] is threading.main_thread()
    assert isinstance(seen["websocket"], WebSocketServerProtocol)
    assert seen["connections"] == {seen["websocket"]}


def test_handler_return_closes_with_1000() -> None:
    async def handler(websocket: WebSocketServerProtocol) -> None:
        await websocket.send("bye")

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                assert await websocket.recv() == "bye"
                with pytest.raises(ConnectionClosedOK) as raised:
                    await websocket.recv()
                assert raised.value.code == 1000
                await websocket.wait_closed()
                assert websocket.close_code == 1000

    run(main())


def test_handler_exception_is_logged_and_closes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(websocket: WebSocketServerProtocol) -> None:
        raise RuntimeError("boom")

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                with pytest.raises(ConnectionClosedError) as raised:
                    await websocket.recv()
                assert raised.value.code == 1011
                await websocket.wait_closed()
                assert websocket.close_code == 1011

    with caplog.at_level(logging.ERROR, logger="websockets_sync.server"):
        run(main())
    errors = [
        r
        for r in caplog.records
        if r.name == "websockets_sync.server" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1, errors
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is RuntimeError
    assert "boom" in caplog.text
    assert "Traceback" in caplog.text


def test_handler_stopped_by_connection_closed_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(websocket: WebSocketServerProtocol) -> None:
        await websocket.recv()  # raises ConnectionClosedOK when the client leaves

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)):
                pass
            await until(lambda: not server.connections, what="the handler to finish")

    with caplog.at_level(logging.ERROR, logger="websockets_sync"):
        run(main())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_server_close_sends_1001_and_awaits_handlers() -> None:
    finished: list[str] = []

    async def handler(websocket: WebSocketServerProtocol) -> None:
        try:
            await websocket.recv()
        except ConnectionClosedOK as exc:
            await asyncio.sleep(20 * MS)  # cleanup takes a while
            finished.append(f"cleaned up after {exc.code}")

    async def main() -> None:
        server = await websockets.serve(handler, "127.0.0.1", 0)
        clients = [await websockets.connect(server_uri(server)) for _ in range(3)]
        await until(lambda: len(server.connections) == 3, what="three connections")
        server.close()
        await server.wait_closed()
        assert finished == ["cleaned up after 1001"] * 3
        for websocket in clients:
            with pytest.raises(ConnectionClosedOK) as raised:
                await websocket.recv()
            assert raised.value.code == 1001
            assert websocket.close_code == 1001
            assert websocket.closed
        assert not server.connections

    run(main())


def test_server_close_is_bounded_by_close_timeout(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that never returns delays the close by 2 * close_timeout at most."""

    async def stubborn(websocket: WebSocketServerProtocol) -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        server = await websockets.serve(stubborn, "127.0.0.1", 0, close_timeout=50 * MS)
        websocket = await websockets.connect(server_uri(server))
        await until(lambda: server.connections, what="the connection")
        start = time.monotonic()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
        assert time.monotonic() - start < 2000 * MS
        await websocket.wait_closed()
        assert websocket.close_code == 1001

    with caplog.at_level(logging.WARNING, logger="websockets_sync.server"):
        run(main())
    assert "still running after server close" in caplog.text


def test_serve_forever_cancelled_closes_the_server() -> None:
    async def main() -> None:
        server = await websockets.serve(hold, "127.0.0.1", 0)
        websocket = await websockets.connect(server_uri(server))
        await until(lambda: server.connections, what="the connection")
        serving = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(10 * MS)
        assert not serving.done()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        assert not server.is_serving()
        await websocket.wait_closed()
        assert websocket.close_code == 1001
        await server.wait_closed()  # already closed: returns at once

    run(main())


def test_serve_forever_returns_when_the_server_closes() -> None:
    async def main() -> None:
        server = await websockets.serve(hold, "127.0.0.1", 0)
        serving = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0)
        server.close()
        await asyncio.wait_for(serving, 5)

    run(main())


def test_serve_context_manager_closes_on_exit() -> None:
    async def main() -> None:
        async with websockets.serve(hold, "127.0.0.1", 0) as server:
            websocket = await websockets.connect(server_uri(server))
            await until(lambda: server.connections, what="the connection")
        assert not server.is_serving()
        await websocket.wait_closed()
        assert websocket.close_code == 1001

    run(main())


def test_server_close_right_after_the_101_sends_1001(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server closes while the 101 response is on its way: the client still gets 1001.

    The delay widens the window between the response and the registration of
    the connection.
    """
    opening = threading.Event()
    connection_open = websockets_sync.server.WebSocketServerProtocol.connection_open

    def slow_connection_open(self: Any, *args: Any) -> None:
        opening.set()
        time.sleep(50 * MS)
        connection_open(self, *args)

    monkeypatch.setattr(
        websockets_sync.asyncio.server._CoreServerProtocol, "connection_open", slow_connection_open
    )

    async def main() -> None:
        async with websockets.serve(hold, "127.0.0.1", 0) as server:
            connecting = asyncio.ensure_future(websockets.connect(server_uri(server)))
            await asyncio.to_thread(opening.wait, 5)
            websocket = await connecting  # the client got its 101
        await websocket.wait_closed()
        assert websocket.close_code == 1001

    run(main())


@pytest.mark.parametrize(
    "option",
    ["max_sise", "loop", "read_limit", "write_limit", "legacy_recv", "ssl", "family"],
)
def test_unknown_options_raise_type_error(option: str) -> None:
    """A typo or a classic-only option fails serve() at once, not every connection later."""

    async def main() -> None:
        with pytest.raises(TypeError):
            await websockets.serve(echo, "127.0.0.1", 0, **{option: None})
        with pytest.raises(TypeError):
            await websockets.connect(f"ws://127.0.0.1:{free_port()}/", **{option: None})

    run(main())


def test_serve_and_connect_on_unix_sockets(tmp_path: Any) -> None:
    """No unix_serve or unix_connect: a listening or connected socket goes in ``sock``."""
    path = str(tmp_path / "websocket.sock")

    async def main() -> None:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen()
        async with websockets.serve(echo, sock=listener):
            client_sock = socket.socket(socket.AF_UNIX)
            client_sock.connect(path)
            async with websockets.connect("ws://localhost/", sock=client_sock) as websocket:
                await websocket.send("over a Unix socket")
                assert await websocket.recv() == "over a Unix socket"

    run(main())


# Handshake hooks and create_protocol.


def hook_server_protocol(mode: str) -> type[WebSocketServerProtocol]:
    """A server protocol subclass with a health check and a subprotocol rule."""

    def answer(path: str, request_headers: Headers) -> Any:
        if path == "/health":
            return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"OK\n"
        if request_headers.get("Authorization") != "Bearer secret":
            return http.HTTPStatus.UNAUTHORIZED, [], b"who are you?\n"
        return None

    def pick(client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]) -> Any:
        # The last common one, where the default picks the first.
        common = [p for p in server_subprotocols if p in client_subprotocols]
        return common[-1] if common else None

    if mode == "sync":

        class SyncHooks(WebSocketServerProtocol):
            def process_request(self, path: str, request_headers: Headers) -> Any:
                return answer(path, request_headers)

            def select_subprotocol(
                self, client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
            ) -> Any:
                return pick(client_subprotocols, server_subprotocols)

        return SyncHooks

    class AsyncHooks(WebSocketServerProtocol):
        async def process_request(self, path: str, request_headers: Headers) -> Any:
            await asyncio.sleep(0)
            assert asyncio.get_running_loop() is self.ws_server.loop  # type: ignore[union-attr]
            return answer(path, request_headers)

        async def select_subprotocol(
            self, client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
        ) -> Any:
            await asyncio.sleep(0)
            return pick(client_subprotocols, server_subprotocols)

    return AsyncHooks


class TaggedClient(WebSocketClientProtocol):
    """A client protocol subclass with an extra method."""

    def __init__(self, *, tag: str = "default", **options: Any) -> None:
        self.tag = tag
        super().__init__(**options)

    async def ask(self, question: str) -> Any:
        await self.send(question)
        return await self.recv()


async def http_get(server: WebSocketServer, path: str) -> bytes:
    """A plain HTTP GET through asyncio streams; the whole answer."""
    host, port = server.sockets[0].getsockname()[:2]
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("as_factory", [False, True], ids=["class", "factory"])
def test_create_protocol_subclasses_with_hooks(mode: str, as_factory: bool) -> None:
    server_class = hook_server_protocol(mode)
    server_factory: Any = server_class
    client_factory: Any = TaggedClient
    if as_factory:
        server_factory = lambda *args, **kwargs: server_class(*args, **kwargs)  # noqa: E731
        client_factory = functools.partial(TaggedClient, tag="partial")
    seen: list[Any] = []

    async def handler(websocket: WebSocketServerProtocol) -> None:
        seen.append(websocket)
        await echo(websocket)

    async def main() -> None:
        async with websockets.serve(
            handler,
            "127.0.0.1",
            0,
            create_protocol=server_factory,
            subprotocols=["chat.v1", "chat.v2"],
        ) as server:
            answer = await http_get(server, "/health")
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert answer.endswith(b"\r\n\r\nOK\n")

            with pytest.raises(InvalidStatusCode) as raised:
                await websockets.connect(server_uri(server))
            assert raised.value.status_code == 401

            async with websockets.connect(
                server_uri(server, "/chat"),
                create_protocol=client_factory,
                subprotocols=["chat.v1", "chat.v2"],
                extra_headers={"Authorization": "Bearer secret"},
            ) as websocket:
                assert isinstance(websocket, TaggedClient)
                assert websocket.tag == ("partial" if as_factory else "default")
                assert websocket.subprotocol == "chat.v2"
                assert await websocket.ask("hello") == "hello"

    run(main())
    assert len(seen) == 1
    assert isinstance(seen[0], server_class)
    assert seen[0].subprotocol == "chat.v2"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_hooks_as_options(mode: str) -> None:
    """``process_request`` and ``select_subprotocol`` options, functions or coroutines."""

    def health(path: str, request_headers: Headers) -> Any:
        if path == "/health":
            return http.HTTPStatus.OK, {"X-Check": "yes"}, b"healthy"
        return None

    def last(client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]) -> Any:
        return client_subprotocols[-1]

    process_request: Any = health
    select_subprotocol: Any = last
    if mode == "async":

        async def process_request(path: str, request_headers: Headers) -> Any:
            return health(path, request_headers)

        async def select_subprotocol(client: Sequence[str], server: Sequence[str]) -> Any:
            return last(client, server)

    async def main() -> None:
        async with websockets.serve(
            echo,
            "127.0.0.1",
            0,
            process_request=process_request,
            select_subprotocol=select_subprotocol,
            subprotocols=["a", "b"],
        ) as server:
            answer = await http_get(server, "/health")
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert b"\r\nX-Check: yes\r\n" in answer
            assert answer.endswith(b"healthy")
            async with websockets.connect(server_uri(server), subprotocols=["a", "b"]) as ws:
                assert ws.subprotocol == "b"

    run(main())


def test_failing_async_hook_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    async def process_request(path: str, request_headers: Headers) -> Any:
        raise RuntimeError("hook bug")

    async def main() -> None:
        async with websockets.serve(
            echo, "127.0.0.1", 0, process_request=process_request
        ) as server:
            with pytest.raises(InvalidStatusCode) as raised:
                await websockets.connect(server_uri(server))
            assert raised.value.status_code == 500

    with caplog.at_level(logging.ERROR, logger="websockets_sync.server"):
        run(main())
    assert "hook bug" in caplog.text


# Connecting.


def test_connect_is_awaitable_and_a_context_manager() -> None:
    async def main() -> None:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            websocket = await websockets.connect(server_uri(server))
            assert websocket.open
            await websocket.close()
            assert websocket.closed

            async with websockets.connect(server_uri(server)) as websocket:
                assert websocket.open
            assert websocket.closed
            assert websocket.close_code == 1000

    run(main())


def test_connect_invalid_status_code() -> None:
    async def main() -> None:
        async with websockets.serve(
            echo,
            "127.0.0.1",
            0,
            process_request=lambda path, headers: (403, [], b"forbidden"),
        ) as server:
            with pytest.raises(InvalidStatusCode) as raised:
                await websockets.connect(server_uri(server))
            assert raised.value.status_code == 403
            assert isinstance(raised.value, websockets_sync.InvalidStatusCode)

    run(main())


def test_connect_does_not_follow_redirects() -> None:
    async def main() -> None:
        async with websockets.serve(
            echo,
            "127.0.0.1",
            0,
            process_request=lambda path, headers: (302, [("Location", "/elsewhere")], b""),
        ) as server:
            with pytest.raises(InvalidStatusCode) as raised:
                await websockets.connect(server_uri(server))
            assert raised.value.status_code == 302

    run(main())


@pytest.mark.parametrize("uri", ["http://localhost/", "not a uri", "wss://localhost/"])
def test_connect_invalid_uri(uri: str) -> None:
    async def main() -> None:
        with pytest.raises(InvalidURI):
            await websockets.connect(uri)

    run(main())


def test_connect_open_timeout_does_not_block_the_loop() -> None:
    """A server that accepts but never answers: TimeoutError, and the loop runs meanwhile."""
    silent = threading.Event()

    def never_answer(sock: socket.socket) -> None:
        read_http_head(sock)
        silent.wait(5)

    async def main() -> None:
        with raw_server(never_answer) as (host, port):
            async with Ticker() as ticker:
                start = time.monotonic()
                with pytest.raises(TimeoutError):
                    await websockets.connect(f"ws://{host}:{port}/", open_timeout=600 * MS)
                elapsed = time.monotonic() - start
            silent.set()
        assert 600 * MS <= elapsed < 3000 * MS
        # A blocked loop would tick at most once. The window is wide because a
        # full garbage collection late in the test suite stops every thread for
        # up to a quarter of a second.
        assert ticker.ticks >= 10

    run(main())


def test_connect_refused() -> None:
    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):
            await websockets.connect(f"ws://127.0.0.1:{free_port()}/")

    run(main())


# Attributes and exceptions.

# The attributes that DESIGN.md lists, plus state and logger.
ATTRIBUTES = [
    "open",
    "closed",
    "state",
    "close_code",
    "close_reason",
    "path",
    "request_headers",
    "response_headers",
    "subprotocol",
    "local_address",
    "remote_address",
    "latency",
    "id",
    "logger",
]


def public_data_attributes(connection: Any) -> list[str]:
    """Every public attribute of a sync connection that isn't a method."""
    return [
        name
        for name in dir(connection)
        if not name.startswith("_") and not callable(getattr(connection, name))
    ]


def assert_delegates(websocket: WebSocketCommonProtocol) -> None:
    connection = websocket.connection
    names = set(ATTRIBUTES) | set(public_data_attributes(connection))
    # The facade's own attributes: ws_server is the asyncio server, for one.
    names -= set(vars(websocket))
    for name in sorted(names):
        assert getattr(websocket, name) == getattr(connection, name), name


def test_every_attribute_delegates() -> None:
    server_sides: list[WebSocketServerProtocol] = []

    async def handler(websocket: WebSocketServerProtocol) -> None:
        server_sides.append(websocket)
        await echo(websocket)

    async def main() -> None:
        async with websockets.serve(
            handler, "127.0.0.1", 0, subprotocols=["chat"], max_size=12345
        ) as server:
            async with websockets.connect(
                server_uri(server, "/path?q"), subprotocols=["chat"], max_queue=7
            ) as websocket:
                await websocket.send("x")
                await websocket.recv()
                await (await websocket.ping())
                assert_delegates(websocket)
                assert_delegates(server_sides[0])
                assert websocket.path == "/path?q"
                assert server_sides[0].path == "/path?q"
                assert websocket.subprotocol == "chat"
                assert websocket.max_queue == 7
                assert server_sides[0].max_size == 12345
                assert server_sides[0].ws_server is server
                assert websocket.latency > 0
                assert websocket.local_address == server_sides[0].remote_address
                assert websocket.request_headers["Upgrade"] == "websocket"
                assert server_sides[0].response_headers["Upgrade"] == "websocket"
            assert_delegates(websocket)
            await until(lambda: server_sides[0].closed, what="the server side to close")
            assert_delegates(server_sides[0])

    run(main())


def test_blocking_methods_of_the_core_are_not_delegated() -> None:
    async def main() -> None:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                with pytest.raises(AttributeError):
                    websocket.handshake  # noqa: B018
                with pytest.raises(AttributeError):
                    websocket._lock  # noqa: B018

    run(main())


def test_attributes_after_close() -> None:
    async def main() -> None:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            websocket = await websockets.connect(server_uri(server))
            assert (websocket.open, websocket.closed, websocket.state) == (True, False, State.OPEN)
            assert (websocket.close_code, websocket.close_reason) == (None, None)
            await websocket.close(4000, "done here")
            assert (websocket.open, websocket.closed) == (False, True)
            assert websocket.state is State.CLOSED
            # The code and reason received: the server echoes the client's.
            assert (websocket.close_code, websocket.close_reason) == (4000, "done here")
            with pytest.raises(ConnectionClosedError) as raised:
                await websocket.recv()
            assert raised.value.code == 4000
            with pytest.raises(ConnectionClosed):
                await websocket.send("too late")
            with pytest.raises(ConnectionClosed):
                await websocket.ping()
            await websocket.close()  # idempotent
            await websocket.wait_closed()  # returns at once

    run(main())


def test_async_for_ends_on_normal_close_and_raises_on_error() -> None:
    async def handler(websocket: WebSocketServerProtocol) -> None:
        await websocket.send("one")
        await websocket.send("two")
        code = 1000 if websocket.path == "/ok" else 4000
        await websocket.close(code)

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server, "/ok")) as websocket:
                assert [message async for message in websocket] == ["one", "two"]
            async with websockets.connect(server_uri(server, "/error")) as websocket:
                received = []
                with pytest.raises(ConnectionClosedError):
                    async for message in websocket:
                        received.append(message)
                assert received == ["one", "two"]

    run(main())


def test_exceptions_are_the_sync_face_classes() -> None:
    for name in websockets_sync.exceptions.__all__:
        assert getattr(websockets, name) is getattr(websockets_sync, name), name
    assert websockets.exceptions is websockets_sync.exceptions
    assert websockets.ConnectionClosed is websockets_sync.ConnectionClosed
    assert issubclass(websockets.ConnectionClosedOK, websockets_sync.ConnectionClosed)


def test_module_layout_mirrors_websockets() -> None:
    import websockets_sync.asyncio.client
    import websockets_sync.asyncio.protocol
    import websockets_sync.asyncio.server

    assert websockets.serve is websockets_sync.asyncio.server.serve
    assert websockets.connect is websockets_sync.asyncio.client.connect
    assert (
        websockets.WebSocketServerProtocol is websockets_sync.asyncio.server.WebSocketServerProtocol
    )
    assert (
        websockets.WebSocketClientProtocol is websockets_sync.asyncio.client.WebSocketClientProtocol
    )
    assert (
        websockets.WebSocketCommonProtocol
        is websockets_sync.asyncio.protocol.WebSocketCommonProtocol
    )
    assert websockets_sync.asyncio is websockets


# Ping and pong.


def test_ping_resolves_to_the_latency() -> None:
    async def main() -> None:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                waiter = await websocket.ping()
                latency = await waiter
                assert isinstance(latency, float)
                assert 0 < latency < 1000 * MS
                assert websocket.latency == latency
                waiter = await websocket.ping("custom")
                assert await waiter > 0
                waiter = await websocket.ping(b"\x00\x01")
                assert await waiter > 0

    run(main())


def handshake_then(script_: Any) -> Any:
    """A raw server that accepts the WebSocket handshake, then runs ``script_(sock, buffer)``."""

    def respond(sock: socket.socket) -> None:
        request, rest = read_http_head(sock)
        sock.sendall(accept_response(request))
        script_(sock, bytearray(rest))

    return respond


def test_ping_waiters_and_pong_against_a_raw_peer() -> None:
    """A peer that doesn't answer pings: same data twice is refused; the close fails waiters."""
    frames: list[tuple[int, bytes]] = []

    def peer(sock: socket.socket, buffer: bytearray) -> None:
        while True:
            opcode, payload = read_client_frame(sock, buffer)
            frames.append((opcode, payload))
            if opcode == 0x8:
                sock.sendall(b"\x88\x02\x03\xe8")  # Close 1000, unmasked
                return

    async def main() -> None:
        with raw_server(handshake_then(peer)) as (host, port):
            websocket = await websockets.connect(f"ws://{host}:{port}/", compression=None)
            waiter = await websocket.ping("same")
            with pytest.raises(ValueError):
                await websocket.ping("same")
            await websocket.pong(b"unsolicited")
            await websocket.close()
            with pytest.raises(ConnectionClosed):
                await waiter

    run(main())
    assert frames == [(0x9, b"same"), (0xA, b"unsolicited"), (0x8, b"\x03\xe8")]


# Sending.


def read_frames_until_close(
    sock: socket.socket, buffer: bytearray
) -> list[tuple[int, bool, bytes]]:
    """Client frames as (opcode, fin, payload), up to the Close frame, which is answered."""
    frames = []
    while True:
        while not buffer:
            buffer.extend(sock.recv(65536))
        fin = bool(buffer[0] & 0x80)
        opcode, payload = read_client_frame(sock, buffer)
        if opcode == 0x8:
            sock.sendall(b"\x88\x02" + payload[:2])
            return frames
        frames.append((opcode, fin, payload))


def test_send_message_types_and_fragments_on_the_wire() -> None:
    frames: list[tuple[int, bool, bytes]] = []

    async def binary_chunks() -> AsyncIterator[bytes]:
        yield b"ab"
        await asyncio.sleep(0)
        yield bytearray(b"cd")
        yield memoryview(b"ef")

    async def main() -> None:
        with raw_server(
            handshake_then(lambda s, b: frames.extend(read_frames_until_close(s, b)))
        ) as (
            host,
            port,
        ):
            async with websockets.connect(f"ws://{host}:{port}/", compression=None) as ws:
                await ws.send("text")
                await ws.send(b"bytes")
                await ws.send(bytearray(b"bytearray"))
                await ws.send(memoryview(b"memoryview"))
                await ws.send(["Hel", "lo"])
                await ws.send(iter([b"x"]))
                await ws.send(binary_chunks())
                await ws.send([])  # an empty iterable sends nothing

    run(main())
    assert frames == [
        (0x1, True, b"text"),
        (0x2, True, b"bytes"),
        (0x2, True, b"bytearray"),
        (0x2, True, b"memoryview"),
        (0x1, False, b"Hel"),
        (0x0, True, b"lo"),
        (0x2, True, b"x"),
        (0x2, False, b"ab"),
        (0x0, False, b"cd"),
        (0x0, True, b"ef"),
    ]


def test_send_iterables_round_trip() -> None:
    async def text_chunks() -> AsyncIterator[str]:
        for chunk in ["a", "sync", "io"]:
            await asyncio.sleep(0)
            yield chunk

    async def main() -> None:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                await websocket.send(["sync ", "iterable"])
                assert await websocket.recv() == "sync iterable"
                await websocket.send(text_chunks())
                assert await websocket.recv() == "asyncio"
                await websocket.send(bytes([i]) for i in range(4))
                assert await websocket.recv() == b"\x00\x01\x02\x03"

    run(main())


def test_send_bad_types() -> None:
    async def mixed() -> AsyncIterator[Any]:
        yield "text"
        yield b"bytes"

    async def main() -> None:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                for bad in [42, None, {"a": "dict"}, [1, 2]]:
                    with pytest.raises(TypeError):
                        await websocket.send(bad)
                # The first fragment is held back until the next one comes, so a
                # type error on the second fragment sends nothing.
                with pytest.raises(TypeError):
                    await websocket.send(["text", b"bytes"])
                with pytest.raises(TypeError):
                    await websocket.send(mixed())
                assert websocket.open
                await websocket.send("still fine")
                assert await websocket.recv() == "still fine"
                # Once a fragment is out, the message can't be completed: 1011.
                with pytest.raises(TypeError):
                    await websocket.send([b"a", b"b", "c"])
                with pytest.raises(ConnectionClosedError) as raised:
                    await websocket.recv()
                assert raised.value.sent is not None
                assert raised.value.sent.code == 1011

    run(main())


def test_concurrent_fragmented_sends_do_not_interleave() -> None:
    async def chunks(name: str) -> AsyncIterator[str]:
        for i in range(5):
            await asyncio.sleep(0)
            yield f"{name}{i}"

    async def main() -> None:
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            async with websockets.connect(server_uri(server)) as websocket:
                await asyncio.gather(websocket.send(chunks("a")), websocket.send(chunks("b")))
                received = {await websocket.recv(), await websocket.recv()}
                assert received == {"a0a1a2a3a4", "b0b1b2b3b4"}

    run(main())


@pytest.mark.parametrize("ending", ["peer-goes-away", "write-timeout"])
def test_send_into_a_peer_that_stops_reading_does_not_block_the_loop(ending: str) -> None:
    """The blocked send waits off the loop; a ticker keeps running meanwhile."""
    release = threading.Event()

    async def main() -> None:
        with raw_server(handshake_then(lambda sock, buffer: release.wait(10))) as (host, port):
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            options: dict[str, Any] = {"compression": None, "sock": sock}
            if ending == "write-timeout":
                options["write_timeout"] = 1000 * MS
            websocket = await websockets.connect(f"ws://{host}:{port}/", **options)
            try:
                async with Ticker() as ticker:
                    sending = asyncio.create_task(websocket.send(b"\x00" * 2**22))
                    # Masking the message is CPU work in the loop; then the send waits.
                    await asyncio.sleep(50 * MS)
                    ticks = ticker.ticks
                    # Wider than a full garbage collection's pause (see above).
                    await asyncio.sleep(500 * MS)
                    assert not sending.done()
                    assert ticker.ticks - ticks >= 10
                    if ending == "peer-goes-away":
                        release.set()  # closing with unread data resets the connection
                        await asyncio.wait_for(asyncio.gather(sending, return_exceptions=True), 5)
                    else:
                        with pytest.raises(TimeoutError):
                            await asyncio.wait_for(sending, 5)
                await asyncio.wait_for(websocket.wait_closed(), 5)
                assert websocket.close_code == 1006
            finally:
                release.set()

    run(main())


def test_send_interrupted_by_a_reset_raises_connection_closed() -> None:
    """The message never left: send() must say so, not return as if it had."""
    release = threading.Event()

    async def main() -> None:
        with raw_server(handshake_then(lambda sock, buffer: release.wait(10))) as (host, port):
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            websocket = await websockets.connect(
                f"ws://{host}:{port}/", sock=sock, compression=None
            )
            try:
                sending = asyncio.create_task(websocket.send(b"\x00" * 2**23))
                await asyncio.sleep(50 * MS)
                release.set()  # the peer hangs up with unread data: a reset
                with pytest.raises(ConnectionClosedError):
                    await asyncio.wait_for(sending, 5)
            finally:
                release.set()
                await websocket.close()

    run(main())


# Receiving: waiting holds no thread and cancelling loses nothing.


async def idle_until_waiting(websocket: WebSocketCommonProtocol) -> None:
    """Let the loop run until a recv() task waits: for the reader thread, or to read itself."""
    connection = websocket.connection
    for _ in range(1000):
        if connection._wakers or connection._caller_reading:
            return
        await asyncio.sleep(0)
    raise AssertionError("recv() didn't start waiting")


def wait_until_arrived(websocket: WebSocketCommonProtocol) -> None:
    """Block the loop until a message is there for recv().

    The reader thread queues it; or, when recv() reads in the loop, it waits
    in the socket.
    """
    connection = websocket.connection
    if connection._caller_reading:
        readable, _, _ = select.select([connection.socket], [], [], 5)
        assert readable, "no message arrived"
    else:
        wait_for(lambda: connection._messages, what="a queued message")


def test_cancel_recv_while_waiting() -> None:
    async def main() -> None:
        with sync_peer() as peer:
            async with websockets.connect(peer.uri) as websocket:
                server_side = await peer.accepted()
                receiving = asyncio.create_task(websocket.recv())
                await asyncio.sleep(10 * MS)
                assert not receiving.done()
                receiving.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await receiving
                assert websocket.connection._wakers == []  # nothing left behind
                server_side.send("after the cancel")
                assert await websocket.recv() == "after the cancel"
                # asyncio.wait_for gives up the same way.
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(websocket.recv(), 10 * MS)
                server_side.send("after the timeout")
                assert await websocket.recv() == "after the timeout"

    run(main())


def test_concurrent_recv_calls_share_the_messages() -> None:
    async def main() -> None:
        with sync_peer() as peer:
            async with websockets.connect(peer.uri) as websocket:
                server_side = await peer.accepted()
                receiving = [asyncio.create_task(websocket.recv()) for _ in range(3)]
                await asyncio.sleep(10 * MS)
                for i in range(3):
                    server_side.send(f"message {i}")
                received = await asyncio.wait_for(asyncio.gather(*receiving), 5)
                assert sorted(received) == ["message 0", "message 1", "message 2"]

    run(main())


@pytest.mark.parametrize("when", ["before-wakeup", "after-wakeup"])
def test_cancel_recv_racing_with_an_arriving_message(when: str) -> None:
    """The message arrived and woke the waiter, but the task is cancelled before it resumes.

    before-wakeup: the reader's callback is still pending in the loop;
    after-wakeup: the callback has run, the task's next step is pending.
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with sync_peer() as peer:
            async with websockets.connect(peer.uri) as websocket:
                server_side = await peer.accepted()
                for i in range(5):
                    receiving = asyncio.create_task(websocket.recv())
                    await idle_until_waiting(websocket)
                    server_side.send(f"message {i}")
                    # Without yielding to the loop: the wakeup can't be processed.
                    wait_until_arrived(websocket)
                    time.sleep(5 * MS)  # let the reader thread schedule its callback
                    if when == "before-wakeup":
                        receiving.cancel()
                    else:
                        loop.call_soon(receiving.cancel)  # runs after the pending callback
                    with pytest.raises(asyncio.CancelledError):
                        await receiving
                    assert await websocket.recv() == f"message {i}"

    run(main())


def test_cancel_recv_at_random_moments_loses_nothing() -> None:
    count = 300

    def produce(server_side: Any) -> None:
        rng = random.Random(1)
        for i in range(count):
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, MS))
            server_side.send(str(i))

    async def main() -> None:
        rng = random.Random(2)
        with sync_peer() as peer:
            async with websockets.connect(peer.uri) as websocket:
                server_side = await peer.accepted()
                producer = asyncio.create_task(asyncio.to_thread(produce, server_side))
                received: list[Any] = []
                cancelled = 0
                while len(received) < count:
                    receiving = asyncio.create_task(websocket.recv())
                    for _ in range(rng.randrange(4)):
                        await asyncio.sleep(0)
                    if rng.random() < 0.3:
                        time.sleep(rng.uniform(0, MS))  # let messages arrive meanwhile
                    receiving.cancel()
                    try:
                        received.append(await receiving)
                    except asyncio.CancelledError:
                        cancelled += 1
                await producer
        assert received == [str(i) for i in range(count)]
        assert cancelled > 0

    run(main())


@pytest.mark.timeout(30)
def test_hundreds_of_connections_waiting_at_once() -> None:
    """Every client awaits recv() at once; messages come in an arbitrary order."""
    count = 200
    rng = random.Random(3)
    server_sides: dict[str, WebSocketServerProtocol] = {}

    async def register(websocket: WebSocketServerProtocol) -> None:
        server_sides[websocket.path] = websocket
        await websocket.wait_closed()

    async def main() -> None:
        async with websockets.serve(register, "127.0.0.1", 0) as server:
            clients = [await websockets.connect(server_uri(server, f"/{i}")) for i in range(count)]
            await until(lambda: len(server_sides) == count, what="every handler")
            await until(lambda: not handshake_threads(), what="handshake threads to end")
            # Server sides await wait_closed(), which reads in a reader thread;
            # clients read in one once idle for a while.
            await until(lambda: len(reader_threads()) == 2 * count, what="every reader thread")
            threads_before = threads_but_process_wide_helpers()
            assert threads_before < 2 * count + 20

            for round_ in range(2):
                receiving = [asyncio.create_task(ws.recv()) for ws in clients]
                await asyncio.sleep(10 * MS)
                assert not any(task.done() for task in receiving)
                # Waiting holds no thread.
                assert threads_but_process_wide_helpers() <= threads_before
                order = list(range(count))
                rng.shuffle(order)
                start = time.monotonic()
                for i in order:
                    await server_sides[f"/{i}"].send(f"round {round_} to {i}")
                received = await asyncio.wait_for(asyncio.gather(*receiving), 5)
                assert time.monotonic() - start < 2000 * MS
                assert received == [f"round {round_} to {i}" for i in range(count)]
            await asyncio.gather(*(ws.close() for ws in clients))
            assert all(ws.close_code == 1000 for ws in clients)

    run(main())
