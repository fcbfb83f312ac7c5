"""recv() callers read the socket themselves; a reader thread runs only when needed.

Over real loopback sockets: recv() calls read and parse in their own thread,
with no thread switch per message. A reader thread starts when nobody has
read for a while, or at once when a ping or the close needs the peer's
frames, and exits once it has handed a message to a recv() that waited.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from websockets_sync import ConnectionClosed, ConnectionClosedOK, connect, serve
from websockets_sync import protocol as protocol_module
from websockets_sync.sansio.protocol import State

from .faces import connection_pair
from .utils import (
    MS,
    accept_response,
    frame,
    raw_server,
    read_client_frame,
    read_http_head,
    server_uri,
    wait_for,
)


def spy_on_reads(connection: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of the thread behind each read of ``connection``'s socket."""
    threads: list[str] = []
    read_once = connection._read_once

    def spy(*args: Any, **kwargs: Any) -> bool:
        threads.append(threading.current_thread().name)
        return read_once(*args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(connection, "_read_once", spy)
    return threads


def waiting_for_data(websocket: Any) -> bool:
    """Whether a recv() caller of ``websocket`` waits for the reader thread or reads."""
    return websocket is not None and bool(websocket._wakers or websocket._caller_reading)


class Greeting:
    """Messages sent one at a time while recv() waits, until the client reads for itself.

    A message that arrives before recv() is called is queued by the reader
    thread, and the reader thread hands over only to a caller that waited.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.done = threading.Event()

    def send(self, websocket: Callable[[], Any], send: Callable[[str], None]) -> None:
        """The peer's side: send "hello" whenever the client got the last one and waits."""
        while True:
            wait_for(
                lambda: (
                    self.done.is_set()
                    or (self.received == self.sent and waiting_for_data(websocket()))
                ),
                what="the client to wait for a message",
            )
            if self.done.is_set():
                return
            send("hello")
            self.sent += 1

    def _client_ready(self, websocket: Any) -> bool:
        """Whether the client got every greeting so far and waits for the next one."""
        return self.received == self.sent and waiting_for_data(websocket)

    def receive(self, websocket: Any) -> None:
        """The client's side: receive until this thread reads the socket itself."""
        try:
            while websocket._caller_reads == 0:
                assert self.received < 20, "recv() never reads for itself"
                assert websocket.recv(timeout=5) == "hello"
                self.received += 1
        finally:
            self.done.set()


@contextmanager
def greeted_pair(**client_options: Any) -> Iterator[Any]:
    """A connection pair whose client reads in its recv() caller's thread."""
    with connection_pair("sync", client_options=client_options) as pair:
        greeting = Greeting()
        greeter = threading.Thread(
            target=greeting.send, args=(lambda: pair.client, pair.server_side.send)
        )
        greeter.start()
        greeting.receive(pair.client)
        greeter.join(5)
        # The server's handler doesn't read: have its reader thread start now,
        # not after the long idle period set by park_for_long.
        with pair.server_side._lock:
            pair.server_side._wake_reader()
        yield pair


@contextmanager
def scripted_peer(
    script: Callable[[socket.socket, bytearray], None], **options: Any
) -> Iterator[Any]:
    """Connect to a raw server that greets the client, then runs ``script(conn, buffer)``.

    On entry, the client reads in its recv() caller's thread.
    """
    clients: list[Any] = []
    greeting = Greeting()

    def respond(conn: socket.socket) -> None:
        head, rest = read_http_head(conn)
        conn.sendall(accept_response(head))
        greeting.send(lambda: clients[0] if clients else None, lambda text: send_text(conn, text))
        script(conn, bytearray(rest))

    with raw_server(respond) as (host, port):
        websocket = connect(f"ws://{host}:{port}/", compression=None, **options)
        clients.append(websocket)
        try:
            greeting.receive(websocket)
            yield websocket
        finally:
            websocket.close()


def send_text(conn: socket.socket, text: str) -> None:
    conn.sendall(frame(0x1, text.encode(), mask=None))


@pytest.fixture(autouse=True)
def park_for_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the parked reader thread parked unless something wakes it."""
    monkeypatch.setattr(protocol_module, "_PARK_PERIOD", 60)


def test_recv_reads_in_the_callers_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    with greeted_pair(compression=None) as pair:
        threads = spy_on_reads(pair.client, monkeypatch)
        for index in range(20):
            pair.server_side.send(str(index))
            assert pair.client.recv(timeout=5) == str(index)
        threads = threads[:]  # the reader thread reads the closing handshake
    assert threads == [threading.current_thread().name] * len(threads)
    assert len(threads) >= 20


def test_the_reader_thread_reads_until_a_recv_caller_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages that arrive while nobody calls recv() are read by a reader thread."""
    monkeypatch.setattr(protocol_module, "_PARK_PERIOD", 50 * MS)
    with connection_pair("sync") as pair:
        wait_for(lambda: pair.client._reader_running, what="the reader thread to start")
        threads = spy_on_reads(pair.client, monkeypatch)
        for index in range(5):
            pair.server_side.send(str(index))
            wait_for(lambda: pair.client._messages, what="the reader thread to queue it")
            assert pair.client.recv(timeout=5) == str(index)
        assert pair.client._caller_reads == 0
        assert threading.current_thread().name not in threads


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_large_messages_read_by_the_caller_arrive_whole(
    timeout: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with greeted_pair(compression=None, max_size=4 << 20) as pair:
        threads = spy_on_reads(pair.client, monkeypatch)
        for size in (16, 100_000, 1 << 20, 3 << 20, 10):
            message = os.urandom(size)
            pair.server_side.send(message)
            assert pair.client.recv(timeout=timeout) == message
        threads = threads[:]
    assert threads == [threading.current_thread().name] * len(threads)


def test_recv_timeout_while_reading_in_the_callers_thread() -> None:
    with greeted_pair() as pair:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            pair.client.recv(timeout=50 * MS)
        assert time.monotonic() - started < 2
        pair.server_side.send("three")
        assert pair.client.recv(timeout=5) == "three"


def test_a_caller_reading_many_messages_at_once_does_not_wait_for_room() -> None:
    """The queue limit holds back the reader thread, never the caller that drains it."""

    def script(conn: socket.socket, buffer: bytearray) -> None:
        conn.sendall(b"".join(frame(0x1, str(i).encode(), mask=None) for i in range(50)))
        read_client_frame(conn, buffer)  # the Close frame

    received: list[Any] = []
    with scripted_peer(script, max_queue=2) as websocket:

        def drain() -> None:
            for _ in range(50):
                received.append(websocket.recv(timeout=5))

        drainer = threading.Thread(target=drain)
        drainer.start()
        drainer.join(10)
        assert not drainer.is_alive(), "recv() waited for room it would make itself"
    assert received == [str(i) for i in range(50)]


def test_the_parked_reader_answers_pings_once_callers_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol_module, "_PARK_PERIOD", 50 * MS)
    answers: list[tuple[int, bytes]] = []

    def script(conn: socket.socket, buffer: bytearray) -> None:
        conn.sendall(frame(0x9, b"still there?", mask=None))
        answers.append(read_client_frame(conn, buffer))
        send_text(conn, "after")
        read_client_frame(conn, buffer)  # the Close frame

    with scripted_peer(script) as websocket:
        # Nobody calls recv(): the reader thread must take over.
        wait_for(lambda: answers, timeout=5, what="the pong")
        assert answers == [(0xA, b"still there?")]
        wait_for(lambda: websocket._messages, timeout=5, what="the reader to queue a message")
        assert websocket.recv_nowait() == "after"


def test_no_reader_thread_until_nobody_reads_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new connection holds no reader thread; one starts once recv() isn't called."""
    monkeypatch.setattr(protocol_module, "_PARK_PERIOD", 200 * MS)
    answers: list[tuple[int, bytes]] = []

    def respond(conn: socket.socket) -> None:
        head, rest = read_http_head(conn)
        conn.sendall(accept_response(head))
        buffer = bytearray(rest)
        conn.sendall(frame(0x9, b"anyone?", mask=None))
        answers.append(read_client_frame(conn, buffer))
        read_client_frame(conn, buffer)  # the Close frame

    with raw_server(respond) as (host, port):
        opened = time.monotonic()
        with connect(f"ws://{host}:{port}/", compression=None) as websocket:
            assert websocket._reader is None
            wait_for(lambda: answers, timeout=5, what="the pong")
            assert time.monotonic() - opened >= 200 * MS
            assert answers == [(0xA, b"anyone?")]
            assert websocket._reader is not None


def test_a_ping_wakes_the_parked_reader() -> None:
    def script(conn: socket.socket, buffer: bytearray) -> None:
        opcode, payload = read_client_frame(conn, buffer)
        assert opcode == 0x9
        conn.sendall(frame(0xA, payload, mask=None))
        read_client_frame(conn, buffer)  # the Close frame

    with scripted_peer(script) as websocket:
        assert websocket.ping(b"ping").wait(timeout=5) < 5


@pytest.mark.parametrize("wait", ["wait_closed", "close"])
def test_waiting_for_the_close_wakes_the_parked_reader(wait: str) -> None:
    def script(conn: socket.socket, buffer: bytearray) -> None:
        if wait == "wait_closed":
            conn.sendall(frame(0x8, b"\x03\xe8bye", mask=None))
            read_client_frame(conn, buffer)
        else:
            opcode, payload = read_client_frame(conn, buffer)
            assert opcode == 0x8
            conn.sendall(frame(0x8, payload, mask=None))
        conn.close()

    with scripted_peer(script, close_timeout=30) as websocket:
        time.sleep(20 * MS)
        started = time.monotonic()
        if wait == "wait_closed":
            websocket.wait_closed(timeout=5)
            assert websocket.close_reason == "bye"
        else:
            websocket.close()
        assert time.monotonic() - started < 5
        assert websocket.close_code == 1000
        websocket._reader.join(5)
        assert not websocket._reader.is_alive()


def test_peer_closing_while_the_caller_reads() -> None:

    def script(conn: socket.socket, buffer: bytearray) -> None:
        time.sleep(50 * MS)
        conn.sendall(frame(0x8, b"\x03\xe8", mask=None))
        read_client_frame(conn, buffer)
        conn.close()

    with scripted_peer(script) as websocket:
        with pytest.raises(ConnectionClosedOK):
            websocket.recv(timeout=5)
        websocket.wait_closed(timeout=5)
        websocket._reader.join(5)
        assert not websocket._reader.is_alive()


def test_peer_vanishing_while_the_caller_reads() -> None:

    def script(conn: socket.socket, buffer: bytearray) -> None:
        time.sleep(50 * MS)
        conn.close()

    with scripted_peer(script) as websocket:
        with pytest.raises(ConnectionClosed):
            websocket.recv(timeout=5)
        websocket.wait_closed(timeout=5)
        assert websocket.close_code == 1006


def test_close_from_another_thread_while_the_caller_reads() -> None:
    with greeted_pair() as pair:
        outcome: list[BaseException] = []

        def receive() -> None:
            try:
                pair.client.recv()
            except BaseException as exc:
                outcome.append(exc)

        receiver = threading.Thread(target=receive)
        receiver.start()
        wait_for(lambda: pair.client._caller_reading, what="the caller to read")
        started = time.monotonic()
        pair.client.close()
        assert time.monotonic() - started < 5
        receiver.join(5)
        assert not receiver.is_alive()
        assert [type(exc) for exc in outcome] == [ConnectionClosedOK]


def test_a_large_frame_split_by_a_recv_timeout_arrives_whole() -> None:
    """A caller that times out mid-frame leaves the rest for the next read."""
    payload = os.urandom(200_000)
    wire = frame(0x2, payload, mask=None)
    half = threading.Event()
    rest = threading.Event()

    def script(conn: socket.socket, buffer: bytearray) -> None:
        conn.sendall(wire[:100_000])
        half.set()
        rest.wait(5)
        conn.sendall(wire[100_000:])
        read_client_frame(conn, buffer)  # the Close frame

    with scripted_peer(script, max_size=1 << 20) as websocket:
        half.wait(5)
        with pytest.raises(TimeoutError):
            websocket.recv(timeout=100 * MS)
        rest.set()
        assert websocket.recv(timeout=5) == payload


def test_pings_are_answered_by_the_caller_that_reads() -> None:
    answers: list[tuple[int, bytes]] = []

    def script(conn: socket.socket, buffer: bytearray) -> None:
        conn.sendall(frame(0x9, b"are you there", mask=None) + frame(0x1, b"after", mask=None))
        answers.append(read_client_frame(conn, buffer))
        read_client_frame(conn, buffer)  # the Close frame

    with scripted_peer(script) as websocket:
        threads = []
        read_once = websocket._read_once

        def spy(*args: Any, **kwargs: Any) -> bool:
            threads.append(threading.current_thread().name)
            return read_once(*args, **kwargs)  # type: ignore[no-any-return]

        websocket._read_once = spy
        assert websocket.recv(timeout=5) == "after"
        wait_for(lambda: answers, what="the pong")
        assert answers == [(0xA, b"are you there")]
        assert threads[0] == threading.current_thread().name


def test_a_server_handler_that_reads_for_itself_closes_cleanly() -> None:
    """The client closes while the handler's recv() reads: the server closes TCP first."""
    handlers: list[Any] = []

    def echo(websocket: Any) -> None:
        handlers.append(websocket)
        for message in websocket:
            websocket.send(message)

    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with connect(server_uri(server), compression=None) as client:
            for index in range(20):
                client.send(str(index))
                assert client.recv(timeout=5) == str(index)
                time.sleep(MS)
            assert handlers[0]._caller_reads > 0
            started = time.monotonic()
            client.close()
            assert time.monotonic() - started < 2
            assert client.close_code == 1000
        handlers[0].wait_closed(timeout=5)
        assert handlers[0].close_code == 1000
        # The handler read everything itself, the closing handshake included.
        assert handlers[0]._reader is None


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt, which pytest would take for itself."""


def test_an_interrupted_read_leaves_the_connection_open(monkeypatch: pytest.MonkeyPatch) -> None:
    with greeted_pair() as pair:
        read_once = pair.client._read_once

        def interrupted(*args: Any, **kwargs: Any) -> bool:
            monkeypatch.setattr(pair.client, "_read_once", read_once)
            raise Interrupt

        monkeypatch.setattr(pair.client, "_read_once", interrupted)
        with pytest.raises(Interrupt):
            pair.client.recv()  # without a timeout, it reads at once
        assert not pair.client._reading
        pair.server_side.send("still open")
        assert pair.client.recv(timeout=5) == "still open"
        assert pair.client.state is State.OPEN
