"""Socket calls that never block and keep the GIL (websockets_sync/_nowait.c).

Both implementations, the C one and the socket's own methods wrapped in
protocol.py, must behave alike; connections must use the C one for small
buffers on plain sockets only. What keeping the GIL is worth is measured by
``python -m bench`` (the concurrency and idle scenarios), not here.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from websockets_sync import connect, idle, protocol, serve

from .utils import (
    MS,
    accelerator,
    build_request,
    raw_client,
    read_http_head,
    server_uri,
    wait_for,
)

CALLS = protocol._SocketCalls._fields


def _c_calls() -> protocol._SocketCalls:
    return protocol._SocketCalls(*(accelerator("websockets_sync._nowait", n) for n in CALLS))


@pytest.fixture(params=["python", "c"])
def calls(request: pytest.FixtureRequest) -> protocol._SocketCalls:
    if request.param == "python":
        return protocol._RELEASING_GIL
    return _c_calls()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    with left, right:
        yield left, right


@pytest.fixture
def kept_gil(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Calls made through the calls that keep the GIL, recorded: (name, buffer size)."""
    made: list[tuple[str, int]] = []

    def recording(name: str) -> Callable[..., Any]:
        call = getattr(protocol._RELEASING_GIL, name)

        def record(sock: socket.socket, *args: Any) -> Any:
            assert type(sock) is socket.socket
            made.append((name, len(args[0]) if name in ("send", "recv_into") else 0))
            return call(sock, *args)

        return record

    recorder = protocol._SocketCalls(*map(recording, CALLS))
    monkeypatch.setattr(protocol, "_KEEPING_GIL", recorder)
    return made


def echo(websocket: Any) -> None:
    for message in websocket:
        websocket.send(message)


def facade_echo(messages: list[str] | list[bytes]) -> None:
    """Send each message through a facade client to a facade echo server, and check the echo."""
    import asyncio

    from websockets_sync import asyncio as facade

    async def async_echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def main() -> None:
        async with facade.serve(async_echo, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with facade.connect(f"ws://127.0.0.1:{port}/", compression=None) as websocket:
                for message in messages:
                    await websocket.send(message)
                    assert await asyncio.wait_for(websocket.recv(), 5) == message

    asyncio.run(asyncio.wait_for(main(), 30))


# The calls themselves, over socket pairs.


@pytest.mark.parametrize("data", [b"hello", bytearray(b"hello"), memoryview(b"xhellox")[1:6]])
def test_sends_bytes_like_objects(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket], data: Any
) -> None:
    left, right = pair
    assert calls.send(left, data, 0) == 5
    assert right.recv(16) == b"hello"


def test_send_returns_what_a_full_socket_took(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket]
) -> None:
    """Never blocks: a partial count, then 0 once the buffers are full."""
    left, right = pair
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    chunk = b"x" * 65536
    total = 0
    while (sent := calls.send(left, chunk, 0)) > 0:
        assert sent <= len(chunk)
        total += sent
    assert total > 0
    received = 0
    right.setblocking(False)
    while received < total:
        received += len(right.recv(65536))
    assert received == total


def test_send_adds_flags(calls: protocol._SocketCalls) -> None:
    """Flags are added to MSG_DONTWAIT: MSG_OOB here, which the peer can tell apart."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname()) as left:
            right, _ = listener.accept()
            with right:
                assert calls.send(left, b"u", socket.MSG_OOB) == 1
                # Delivered during send() on loopback. Without MSG_OOB, this
                # read fails at once (EINVAL): no urgent byte.
                assert right.recv(1, socket.MSG_OOB) == b"u"


def test_send_to_a_closed_peer_raises_a_connection_error(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket]
) -> None:
    """EPIPE raises BrokenPipeError, without a SIGPIPE killing the process."""
    left, right = pair
    right.close()
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        calls.send(left, b"hello", 0)


def test_recv_into_reads_what_came(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    right.sendall(b"hello")
    buffer = bytearray(16)
    assert calls.recv_into(left, memoryview(buffer)) == 5
    assert buffer[:5] == b"hello"


def test_recv_into_without_bytes_raises_blocking_io_error(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket]
) -> None:
    """Never waits, even on a blocking socket."""
    left, _ = pair
    left.settimeout(None)
    with pytest.raises(BlockingIOError):
        calls.recv_into(left, memoryview(bytearray(16)))


def test_recv_into_at_eof_reads_nothing(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    right.shutdown(socket.SHUT_WR)
    assert calls.recv_into(left, memoryview(bytearray(16))) == 0


def test_shutdown_half_closes(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    calls.shutdown(left, socket.SHUT_WR)
    assert right.recv(16) == b""
    right.sendall(b"still open this way")
    assert left.recv(32) == b"still open this way"


def test_close_gives_up_the_descriptor_once(
    calls: protocol._SocketCalls, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    calls.close(left)
    assert left.fileno() == -1
    assert right.recv(16) == b""
    calls.close(left)  # harmless, as socket.close() is


@pytest.mark.parametrize("name", ["send", "recv_into", "shutdown"])
def test_a_closed_socket_raises_ebadf(calls: protocol._SocketCalls, name: str) -> None:
    sock = socket.socket()
    sock.close()
    argument = {"send": b"hello", "recv_into": memoryview(bytearray(16)), "shutdown": 1}[name]
    with pytest.raises(OSError) as exc_info:
        getattr(calls, name)(sock, argument)
    assert exc_info.value.errno == errno.EBADF


def test_c_calls_check_their_arguments(pair: tuple[socket.socket, socket.socket]) -> None:
    c: Any = _c_calls()
    left, _ = pair
    with pytest.raises(TypeError):
        c.send(left)
    with pytest.raises(TypeError):
        c.send(left, "text")
    with pytest.raises(TypeError):
        c.send(left, b"hello", 0, 0)
    with pytest.raises(TypeError):
        c.send(left, b"hello", "more")
    with pytest.raises(OverflowError):
        c.send(left, b"hello", 2**40)
    with pytest.raises(TypeError):
        c.recv_into(left, bytearray(16), 0)
    with pytest.raises(AttributeError):
        c.send(None, b"hello")
    with pytest.raises(BufferError):
        c.recv_into(left, b"read-only")
    with pytest.raises(TypeError):
        c.shutdown(left, "both")
    with pytest.raises(OverflowError):
        c.shutdown(left, 2**40)
    with pytest.raises(AttributeError):
        c.close(None)


def _c_arm(epoll: Any, fd: int) -> None:
    accelerator("websockets_sync._nowait", "epoll_arm")(epoll.fileno(), fd, idle._EPOLL_EVENTS)


@pytest.fixture(params=["python", "c"])
def arm(request: pytest.FixtureRequest) -> Callable[[Any, int], None]:
    if not idle.available():
        pytest.skip("the idle poller uses epoll (Linux)")
    return idle._arm_releasing_gil if request.param == "python" else _c_arm


def test_arming_watches_a_socket_for_one_event_and_again(
    arm: Callable[[Any, int], None], pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    with select.epoll() as epoll:
        arm(epoll, left.fileno())
        assert epoll.poll(0) == []
        right.send(b"x")
        ((fd, events),) = epoll.poll(1)
        assert fd == left.fileno() and events & select.EPOLLIN
        assert epoll.poll(0) == []  # one-shot: disarmed, still registered
        arm(epoll, left.fileno())  # so this modifies the registration
        assert [fd for fd, _ in epoll.poll(1)] == [left.fileno()]


def test_arming_a_closed_socket_raises_ebadf(arm: Callable[[Any, int], None]) -> None:
    with select.epoll() as epoll:
        sock = socket.socket()
        fd = sock.fileno()
        sock.close()
        with pytest.raises(OSError) as exc_info:
            arm(epoll, fd)
    assert exc_info.value.errno == errno.EBADF


def test_c_epoll_arm_checks_its_arguments() -> None:
    epoll_arm = accelerator("websockets_sync._nowait", "epoll_arm")
    with pytest.raises(TypeError):
        epoll_arm(3, 4)
    with pytest.raises(TypeError):
        epoll_arm(3, 4, "in")
    with pytest.raises(OverflowError):
        epoll_arm(3, 4, 2**40)
    with pytest.raises(OSError) as exc_info:
        epoll_arm(-1, 0, 1)
    assert exc_info.value.errno == errno.EBADF


def test_the_idle_poller_arms_with_the_c_call_unless_switched_off() -> None:
    if os.environ.get("WEBSOCKETS_SYNC_PURE_PYTHON"):
        assert idle._select_arm() is idle._arm_releasing_gil
    else:
        accelerator("websockets_sync._nowait", "epoll_arm")
        assert idle._select_arm() is not idle._arm_releasing_gil


@pytest.mark.timeout(30)
def test_a_lingering_close_lets_other_threads_run() -> None:
    """With SO_LINGER, close() waits for the peer: the C close then releases the GIL."""
    c = _c_calls()
    linger = 2
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sock = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
        with peer:
            # The peer doesn't read: unsent bytes stay queued, and close() waits.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, linger))
            while c.send(sock, b"x" * 65536, 0):
                pass
            started = time.monotonic()
            closing = threading.Thread(target=c.close, args=(sock,))
            closing.start()
            # This thread keeps running while the other one waits in close().
            ticks = 0
            while closing.is_alive():
                ticks += 1
                time.sleep(MS)
            assert time.monotonic() - started >= linger / 2
            assert ticks > 100
            assert sock.fileno() == -1


# Connections: which calls they use.


def test_connections_use_the_c_calls_unless_switched_off() -> None:
    if os.environ.get("WEBSOCKETS_SYNC_PURE_PYTHON"):
        assert protocol._select_keeping_gil() is None
    else:
        assert protocol._select_keeping_gil() == _c_calls()


def test_small_frames_on_plain_sockets_keep_the_gil(kept_gil: list[tuple[str, int]]) -> None:
    """Frames up to _KEEPING_GIL_MAX are sent with the call that keeps the GIL."""
    largest = protocol._KEEPING_GIL_MAX - 14  # the rest is the frame header
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with connect(server_uri(server), compression=None) as websocket:
            for size in (16, largest, 100_000):
                websocket.send(b"x" * size)
                assert websocket.recv(timeout=5) == b"x" * size
    sizes = {size for name, size in kept_gil if name == "send"}
    # Small frames both ways (masked from the client: 4 bytes more), none of 100 KB.
    assert {16 + 2, 16 + 6, largest + 4, largest + 8} <= sizes
    assert max(sizes) <= protocol._KEEPING_GIL_MAX


def test_the_closing_handshake_keeps_the_gil(kept_gil: list[tuple[str, int]]) -> None:
    """The server's Close frame, its half-close and its close of the socket."""
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with connect(server_uri(server), compression=None):
            wait_for(lambda: server.connections, what="the connection")
            (handler_side,) = server.connections
        handler_side.wait_closed(5)
    assert ("send", 2 + 2) in kept_gil  # the server's Close frame: code 1000
    assert ("shutdown", 0) in kept_gil
    # Both ends' sockets; each is closed right after its connection says closed.
    wait_for(lambda: kept_gil.count(("close", 0)) == 2, what="both sockets closed")


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """Sends and shutdowns made keeping the GIL: (bytes, flags) and ("shutdown", how)."""
    made: list[tuple[object, ...]] = []
    send, shutdown = protocol._RELEASING_GIL.send, protocol._RELEASING_GIL.shutdown

    def record_send(sock: socket.socket, data: bytes | memoryview, flags: int) -> int:
        made.append((bytes(data), flags))
        return send(sock, data, flags)

    def record_shutdown(sock: socket.socket, how: int) -> None:
        made.append(("shutdown", how))
        shutdown(sock, how)

    recorder = protocol._RELEASING_GIL._replace(send=record_send, shutdown=record_shutdown)
    monkeypatch.setattr(protocol, "_KEEPING_GIL", recorder)
    return made


def assert_fin_with_close_frame(sends: list[tuple[object, ...]]) -> None:
    """The server's Close frame goes with MSG_MORE, right before its half-close."""
    close_frame = b"\x88\x02\x03\xe8"  # the server's, unmasked: code 1000
    at = sends.index((close_frame, socket.MSG_MORE))
    assert sends[at + 1] == ("shutdown", socket.SHUT_WR)
    # Everything without an EOF behind it goes out at once: both handshake
    # messages, both messages, the client's Close frame.
    assert [flags for data, flags in sends if data not in (close_frame, "shutdown")] == [0] * 5


def test_the_fin_leaves_with_the_close_frame(sends: list[tuple[object, ...]]) -> None:
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with connect(server_uri(server), compression=None) as websocket:
            websocket.send("hello")
            assert websocket.recv(timeout=5) == "hello"
            wait_for(lambda: server.connections, what="the connection")
            (handler_side,) = server.connections
        handler_side.wait_closed(5)
    assert_fin_with_close_frame(sends)


def test_the_fin_leaves_with_the_close_frame_on_the_asyncio_facade(
    sends: list[tuple[object, ...]],
) -> None:
    """The facade's server, whose event loop reads and answers, sends it the same way."""
    facade_echo(["hello"])
    # The client's close returns once the server closed TCP: after its FIN.
    assert_fin_with_close_frame(sends)


def test_reads_after_a_quiet_while_keep_the_gil(
    kept_gil: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read in its turn from the idle poller knows bytes are there: it doesn't wait."""
    if not idle.available():
        pytest.skip("needs epoll (Linux)")
    monkeypatch.setattr(idle, "IDLE_AFTER", 50 * MS)
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with connect(server_uri(server), compression=None) as websocket:
            time.sleep(4 * idle.IDLE_AFTER)
            websocket.send(b"after a while")
            assert websocket.recv(timeout=5) == b"after a while"
    assert any(name == "recv_into" for name, _ in kept_gil)


def test_the_opening_handshake_keeps_the_gil(kept_gil: list[tuple[str, int]]) -> None:
    """A request already there is read, and the 101 sent, with the calls that keep the GIL."""
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with raw_client(server) as sock:
            sock.sendall(build_request())
            head, _ = read_http_head(sock)
            assert head.startswith(b"HTTP/1.1 101")
            wait_for(lambda: ("send", len(head)) in kept_gil, what="the 101 response")
    assert ("recv_into", protocol._HANDSHAKE_CHUNK) in kept_gil


@pytest.mark.parametrize("pause", [0.0, 0.2])
def test_handshake_requests_in_pieces(pause: float) -> None:
    """A request longer than the first read, or late, is read on until complete."""
    cookie = "c" * (2 * protocol._HANDSHAKE_CHUNK)
    request = build_request(extra=(("Cookie", cookie),))
    with serve(echo, "127.0.0.1", 0, compression=None, max_line_length=16384) as server:
        with raw_client(server) as sock:
            time.sleep(pause)
            sock.sendall(request[:100])
            time.sleep(pause)
            sock.sendall(request[100:])
            head, _ = read_http_head(sock)
            assert head.startswith(b"HTTP/1.1 101")
            wait_for(lambda: server.connections, what="the connection")
            (handler_side,) = server.connections
            assert handler_side.request_headers["Cookie"] == cookie


class _WrappedSocket(socket.socket):
    """A socket subclass, as an SSL socket is: its methods may do more than the system calls."""


def test_wrapped_sockets_use_their_own_methods(kept_gil: list[tuple[str, int]]) -> None:
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        host, port = server.sockets[0].getsockname()[:2]
        sock = _WrappedSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.connect((host, port))
        with connect(server_uri(server), sock=sock, compression=None) as websocket:
            websocket.send(b"x" * 16)
            assert websocket.recv(timeout=5) == b"x" * 16
            calls_by_server = list(kept_gil)
    # The server's plain socket used them (the handshake's read and answer,
    # then the echo); the client's wrapped one never did.
    assert [name for name, _ in calls_by_server] == ["recv_into", "send", "send"]
    assert calls_by_server[-1] == ("send", 16 + 2)


def test_the_asyncio_facade_keeps_the_gil(kept_gil: list[tuple[str, int]]) -> None:
    """Small frames are sent, and the event loop reads, with the calls that keep the GIL."""
    facade_echo([b"x" * 16] * 3)
    assert {("send", 16 + 2), ("send", 16 + 6)} <= set(kept_gil)
    assert any(name == "recv_into" for name, _ in kept_gil)
    # The handshake's request, read at once, and the closing handshake.
    assert ("recv_into", protocol._HANDSHAKE_CHUNK) in kept_gil
    assert ("shutdown", 0) in kept_gil
    wait_for(lambda: kept_gil.count(("close", 0)) == 2, what="both sockets closed")
