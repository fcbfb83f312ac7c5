"""Idle sockets wait in one poller and wake in turn: websockets_sync.idle.

First the poller itself, over socket pairs; then connections that stay
quiet longer than IDLE_AFTER, over loopback, which must go on working as if
nothing happened: messages, pings, large frames, the close.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from websockets_sync import connect, idle, serve

from .utils import (
    MS,
    Echo,
    accept_response,
    answer_close,
    frame,
    raw_server,
    read_http_head,
    server_uri,
    wait_for,
)

pytestmark = pytest.mark.skipif(not idle.available(), reason="needs epoll (Linux)")


@pytest.fixture
def quick_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections count as idle after 50 ms without bytes."""
    monkeypatch.setattr(idle, "IDLE_AFTER", 50 * MS)


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    created: list[tuple[socket.socket, socket.socket]] = []
    yield created
    for a, b in created:
        a.close()
        b.close()


def socket_pair(pairs: list[tuple[socket.socket, socket.socket]]) -> tuple[Any, Any]:
    pair = socket.socketpair()
    pairs.append(pair)
    return pair


def read_when_readable(reader: socket.socket) -> tuple[threading.Thread, list[bytes]]:
    """Start a thread that waits in the poller, then reads; return it and what it read."""
    received: list[bytes] = []

    def wait() -> None:
        with idle.turn_when_readable(reader):
            received.append(reader.recv(10))

    thread = threading.Thread(target=wait)
    thread.start()
    wait_for(lambda: idle._poller._watched, what="the socket to be watched")
    return thread, received


def test_a_waiter_wakes_when_its_socket_has_bytes(pairs: Any) -> None:
    reader, writer = socket_pair(pairs)
    thread, received = read_when_readable(reader)
    time.sleep(20 * MS)
    assert received == []
    writer.send(b"hi")
    thread.join(5)
    assert received == [b"hi"]
    assert not idle._poller._watched


def test_a_waiter_wakes_at_eof(pairs: Any) -> None:
    reader, writer = socket_pair(pairs)
    thread, received = read_when_readable(reader)
    writer.close()
    thread.join(5)
    assert received == [b""]


def test_ready_threads_take_turns(pairs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Of several sockets readable at once, one thread runs at a time."""
    monkeypatch.setattr(idle, "TURN_LIMIT", 1.0)
    sockets = [socket_pair(pairs) for _ in range(5)]
    running = 0
    most = 0
    guard = threading.Lock()

    def wait(reader: socket.socket) -> None:
        nonlocal running, most
        with idle.turn_when_readable(reader):
            with guard:
                running += 1
                most = max(most, running)
            time.sleep(10 * MS)
            reader.recv(10)
            with guard:
                running -= 1

    threads = [threading.Thread(target=wait, args=(reader,)) for reader, _ in sockets]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(idle._poller._watched) == 5, what="every socket to be watched")
    for _, writer in sockets:
        writer.send(b"x")
    for thread in threads:
        thread.join(5)
    assert most == 1


def hold_turn(reader: socket.socket, woken: list[str], release: threading.Event) -> None:
    """Take a turn once ``reader`` is readable, note it as "slow", and hold it until released."""
    with idle.turn_when_readable(reader):
        woken.append("slow")
        release.wait(10)


def test_a_slow_turn_lets_the_next_thread_go(pairs: Any) -> None:
    """A thread holding its turn past TURN_LIMIT doesn't hold up the others."""
    (slow_reader, slow_writer), (reader, writer) = socket_pair(pairs), socket_pair(pairs)
    release = threading.Event()
    woken: list[str] = []
    slow = functools.partial(hold_turn, slow_reader, woken, release)

    def quick() -> None:
        with idle.turn_when_readable(reader):
            woken.append("quick")

    slow_thread = threading.Thread(target=slow)
    slow_thread.start()
    wait_for(lambda: idle._poller._watched, what="the slow socket to be watched")
    slow_writer.send(b"x")
    wait_for(lambda: woken == ["slow"], what="the slow thread's turn")
    quick_thread = threading.Thread(target=quick)
    quick_thread.start()
    writer.send(b"x")
    quick_thread.join(5)
    assert woken == ["slow", "quick"]
    release.set()
    slow_thread.join(5)


def test_after_an_overrun_turns_flow_again(pairs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a slow turn is overrun, the next ones don't each wait TURN_LIMIT."""
    monkeypatch.setattr(idle, "TURN_LIMIT", 1.0)
    slow_reader, slow_writer = socket_pair(pairs)
    quick = [socket_pair(pairs) for _ in range(5)]
    release = threading.Event()
    woken: list[str] = []
    slow = functools.partial(hold_turn, slow_reader, woken, release)

    def wait(reader: socket.socket) -> None:
        with idle.turn_when_readable(reader):
            reader.recv(10)
            woken.append("quick")

    threads = [threading.Thread(target=slow)]
    threads += [threading.Thread(target=wait, args=(reader,)) for reader, _ in quick]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(idle._poller._watched) == 6, what="every socket to be watched")
    slow_writer.send(b"x")
    wait_for(lambda: woken == ["slow"], what="the slow turn")
    started = time.monotonic()
    for _, writer in quick:
        writer.send(b"x")
    wait_for(lambda: len(woken) == 6, timeout=10, what="every quick turn")
    # One overrun of 1 s, not one per quick turn.
    assert time.monotonic() - started < 3
    release.set()
    for thread in threads:
        thread.join(5)


def test_a_socket_waits_again_after_waking(pairs: Any) -> None:
    """A woken socket stays registered, disarmed: waiting again re-arms it."""
    reader, writer = socket_pair(pairs)
    for data in (b"one", b"two"):
        thread, received = read_when_readable(reader)
        writer.send(data)
        thread.join(5)
        assert received == [data]
        # Still registered, so the poller made no epoll_ctl call for it.
        epoll = idle._poller._epoll
        if epoll is not None:
            with pytest.raises(FileExistsError):
                epoll.register(reader.fileno(), 0)


def test_a_closed_socket_leaves_the_poller(pairs: Any) -> None:
    """Closing a socket drops its registration: a new one may get the same number."""
    reader, writer = socket_pair(pairs)
    thread, _ = read_when_readable(reader)
    writer.send(b"x")
    thread.join(5)
    number = reader.fileno()
    reader.close()
    fresh, fresh_writer = socket_pair(pairs)
    assert fresh.fileno() == number
    thread, received = read_when_readable(fresh)
    fresh_writer.send(b"new")
    thread.join(5)
    assert received == [b"new"]


def test_the_poller_rests_while_threads_await_their_turns(
    pairs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events that come while many threads wait for turns aren't collected one by one.

    Collecting them as they come would take the GIL from the threads at
    every event: thousands of times a second when every client closes.
    """
    polls = 0
    real_epoll = idle.select.epoll

    class CountingEpoll:
        def __init__(self) -> None:
            self._epoll = real_epoll()

        def poll(self, timeout: float = -1) -> list[tuple[int, int]]:
            nonlocal polls
            polls += 1
            return self._epoll.poll(timeout)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._epoll, name)

    wait_for(lambda: idle._poller._thread is None, what="the poller thread to exit")
    monkeypatch.setattr(idle.select, "epoll", CountingEpoll)
    count = idle._REFILL_AT * 3
    sockets = [socket_pair(pairs) for _ in range(count * 2)]
    done: list[int] = []

    def wait(reader: socket.socket) -> None:
        with idle.turn_when_readable(reader):
            reader.recv(10)
            time.sleep(2 * MS)
        done.append(1)

    threads = [threading.Thread(target=wait, args=(reader,)) for reader, _ in sockets]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(idle._poller._watched) == len(sockets), what="every socket watched")
    first, second = sockets[:count], sockets[count:]
    for _, writer in first:
        writer.send(b"x")
    wait_for(lambda: len(idle._poller._ready) > idle._REFILL_AT, what="threads awaiting turns")
    before = polls
    for _, writer in second:  # one by one, while turns go on
        writer.send(b"x")
        time.sleep(MS / 2)
    for thread in threads:
        thread.join(10)
    assert len(done) == len(sockets)
    assert polls - before < count / 2


@pytest.mark.parametrize("state", ["watched", "ready", "woken"])
def test_an_interrupted_waiter_leaves_no_trace(
    state: str, pairs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception while waiting withdraws the socket, or passes the turn on."""
    reader, _ = socket_pair(pairs)
    poller = idle._poller

    class FakeWake:
        def acquire(self) -> bool:
            with poller._lock:
                waiter = poller._watched[reader.fileno()]
                if state != "watched":
                    del poller._watched[waiter.fd]
                    assert poller._epoll is not None
                    poller._epoll.unregister(waiter.fd)
                    waiter.state = "ready"
                    poller._ready.append(waiter)
                if state == "woken":
                    poller._ready.remove(waiter)
                    waiter.state = "woken"
                    poller._holders.add(waiter)
            raise KeyboardInterrupt

        def release(self) -> None:  # pragma: no cover - never woken
            pass

    original = idle._Waiter.__init__

    def init(self: Any, poller: Any, fd: int) -> None:
        original(self, poller, fd)
        self.wake = FakeWake()

    monkeypatch.setattr(idle._Waiter, "__init__", init)
    with pytest.raises(KeyboardInterrupt):
        with idle.turn_when_readable(reader):
            pass  # pragma: no cover - never entered
    assert reader.fileno() not in poller._watched
    assert not poller._ready
    assert not poller._holders


def test_the_poller_thread_exits_when_nothing_is_idle(pairs: Any) -> None:
    reader, writer = socket_pair(pairs)
    writer.send(b"x")
    with idle.turn_when_readable(reader):
        reader.recv(10)
    wait_for(lambda: idle._poller._thread is None, what="the poller thread to exit")
    assert idle._poller._epoll is None
    assert not [t for t in threading.enumerate() if t.name == "websockets_sync-idle"]


# Connections that go idle.


def idle_for_a_while(websocket: Any) -> None:
    """Wait until the thread reading ``websocket`` waits in the poller."""
    assert websocket.socket is not None
    fd = websocket.socket.fileno()
    wait_for(lambda: fd in idle._poller._watched, what="the connection to go idle")


def test_messages_after_a_quiet_while(quick_idle: None) -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        with connect(server_uri(server)) as client:
            wait_for(lambda: server.connections, what="the connection")
            (handler_side,) = server.connections
            messages: list[str | bytes] = ["first", b"\x00" * 100_000, "again"]
            for message in messages:
                idle_for_a_while(handler_side)
                client.send(message)
                assert client.recv(5) == message


def test_a_large_frame_with_a_pause_in_the_middle(quick_idle: None) -> None:
    """A peer stalling mid-frame longer than IDLE_AFTER: the frame still arrives whole."""
    payload = os.urandom(300_000)

    def respond(conn: socket.socket) -> None:
        head, rest = read_http_head(conn)
        conn.sendall(accept_response(head))
        wire = frame(0x2, payload, mask=None)
        conn.sendall(wire[:100_000])
        time.sleep(200 * MS)
        conn.sendall(wire[100_000:])
        answer_close(conn, bytearray(rest))

    with raw_server(respond) as (host, port):
        with connect(f"ws://{host}:{port}/", compression=None) as client:
            assert client.recv(5) == payload


def test_ping_and_close_after_a_quiet_while(quick_idle: None) -> None:
    with serve(Echo, "127.0.0.1", 0) as server:
        with connect(server_uri(server)) as client:
            wait_for(lambda: server.connections, what="the connection")
            (handler_side,) = server.connections
            idle_for_a_while(handler_side)
            assert client.ping().wait(5) < 5
            idle_for_a_while(handler_side)
            started = time.monotonic()
            client.close()
            assert time.monotonic() - started < 2
            assert client.close_code == 1000
            handler_side.wait_closed(5)
            assert handler_side.close_code == 1000


@pytest.mark.timeout(60)
def test_many_idle_connections_close_at_once(quick_idle: None) -> None:
    """Hundreds of idle handlers, every client closing together: all released promptly."""
    count = 300
    with serve(Echo, "127.0.0.1", 0) as server:
        clients = [connect(server_uri(server)) for _ in range(count)]
        try:
            wait_for(lambda: len(server.connections) == count, what="every connection")
            wait_for(
                lambda: len(idle._poller._watched) >= count,
                timeout=10_000 * MS,
                what="every handler to go idle",
            )
            for client in clients:
                client.close_nowait()
            wait_for(
                lambda: not server.connections, timeout=10_000 * MS, what="every handler to end"
            )
        finally:
            for client in clients:
                client.close()
        assert all(client.close_code == 1000 for client in clients)


# In a child process: the parent's poller and timer threads don't exist there.
FORK_SCRIPT = """
import os, socket, sys, threading
from websockets_sync import idle
from websockets_sync.scheduler import call_later

def read_in_turn(reader):
    with idle.turn_when_readable(reader):
        reader.recv(10)

# The parent's poller runs, watching a socket; a timer is armed.
parent_reader, parent_writer = socket.socketpair()
threading.Thread(target=read_in_turn, args=(parent_reader,), daemon=True).start()
while not idle._poller._watched:
    pass
call_later(60, lambda: None)
pid = os.fork()
if pid == 0:
    reader, writer = socket.socketpair()
    waiter = threading.Thread(target=read_in_turn, args=(reader,))
    waiter.start()
    writer.send(b"x")
    waiter.join(5)
    fired = threading.Event()
    call_later(0.01, fired.set)
    os._exit(0 if not waiter.is_alive() and fired.wait(5) else 1)
_, status = os.waitpid(pid, 0)
parent_writer.send(b"x")
print(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_gets_its_own_poller_and_timers() -> None:
    output = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert output.stdout.split() == ["0"], output.stderr
