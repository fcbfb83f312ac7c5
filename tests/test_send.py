"""The send of small frames that keeps the GIL (websockets_sync/_send.c).

Both implementations of a non-blocking send, the C one and the Python one in
protocol.py, must behave alike; the connection must use the C one for small
frames on plain sockets only. What keeping the GIL is worth is measured by
``python -m bench`` (the concurrency scenario), not here.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from websockets_sync import connect, protocol, serve

from .utils import accelerator, server_uri

Send = Callable[[socket.socket, Any], int]


def _c_send() -> Send:
    send: Send = accelerator("websockets_sync._send", "send_nowait")
    return send


@pytest.fixture(params=["python", "c"])
def send(request: pytest.FixtureRequest) -> Send:
    if request.param == "python":
        return protocol._send_nowait
    return _c_send()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    with left, right:
        yield left, right


@pytest.fixture
def kept_gil_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the frames sent through the send that keeps the GIL, recorded."""
    sizes: list[int] = []

    def recording_send(sock: socket.socket, data: bytes) -> int:
        assert type(sock) is socket.socket
        sizes.append(len(data))
        return protocol._send_nowait(sock, data)

    monkeypatch.setattr(protocol, "_send_keeping_gil", recording_send)
    return sizes


def echo(websocket: Any) -> None:
    for message in websocket:
        websocket.send(message)


@pytest.mark.parametrize("data", [b"hello", bytearray(b"hello"), memoryview(b"xhellox")[1:6]])
def test_sends_bytes_like_objects(
    send: Send, pair: tuple[socket.socket, socket.socket], data: Any
) -> None:
    left, right = pair
    assert send(left, data) == 5
    assert right.recv(16) == b"hello"


def test_returns_what_a_full_socket_took(
    send: Send, pair: tuple[socket.socket, socket.socket]
) -> None:
    """Never blocks: a partial count, then 0 once the buffers are full."""
    left, right = pair
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    chunk = b"x" * 65536
    total = 0
    while (sent := send(left, chunk)) > 0:
        assert sent <= len(chunk)
        total += sent
    assert total > 0
    received = 0
    right.setblocking(False)
    while received < total:
        received += len(right.recv(65536))
    assert received == total


def test_a_closed_peer_raises_a_connection_error(
    send: Send, pair: tuple[socket.socket, socket.socket]
) -> None:
    """EPIPE raises BrokenPipeError, without a SIGPIPE killing the process."""
    left, right = pair
    right.close()
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        send(left, b"hello")


def test_a_closed_socket_raises_ebadf(send: Send) -> None:
    sock = socket.socket()
    sock.close()
    with pytest.raises(OSError) as exc_info:
        send(sock, b"hello")
    assert exc_info.value.errno == errno.EBADF


def test_c_send_checks_its_arguments() -> None:
    send_nowait: Any = _c_send()
    left, right = socket.socketpair()
    with left, right:
        with pytest.raises(TypeError):
            send_nowait(left)
        with pytest.raises(TypeError):
            send_nowait(left, "text")
        with pytest.raises(AttributeError):
            send_nowait(None, b"hello")


def test_the_connection_uses_the_c_send_unless_switched_off() -> None:
    if os.environ.get("WEBSOCKETS_SYNC_PURE_PYTHON"):
        assert protocol._select_send_keeping_gil() is None
    else:
        assert protocol._select_send_keeping_gil() is _c_send()


def test_small_frames_on_plain_sockets_keep_the_gil(kept_gil_sizes: list[int]) -> None:
    """Frames up to _SEND_KEEPING_GIL_MAX go through the send that keeps the GIL."""
    sizes = kept_gil_sizes
    largest = protocol._SEND_KEEPING_GIL_MAX - 14  # the rest is the frame header
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        with connect(server_uri(server), compression=None) as websocket:
            for size in (16, largest, 100_000):
                websocket.send(b"x" * size)
                assert websocket.recv(timeout=5) == b"x" * size
    # Small frames both ways (masked from the client: 4 bytes more), none of 100 KB.
    assert {16 + 2, 16 + 6, largest + 4, largest + 8} <= set(sizes)
    assert max(sizes) <= protocol._SEND_KEEPING_GIL_MAX


class _WrappedSocket(socket.socket):
    """A socket subclass, as an SSL socket is: its send() may do more than the system call."""


def test_wrapped_sockets_send_with_their_own_send(kept_gil_sizes: list[int]) -> None:
    calls = kept_gil_sizes
    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        host, port = server.sockets[0].getsockname()[:2]
        sock = _WrappedSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.connect((host, port))
        with connect(server_uri(server), sock=sock, compression=None) as websocket:
            websocket.send(b"x" * 16)
            assert websocket.recv(timeout=5) == b"x" * 16
            calls_by_server = list(calls)
    # The server's plain socket used it; the client's wrapped one never did.
    assert calls_by_server == [16 + 2]


def test_the_asyncio_facade_sends_small_frames_keeping_the_gil(kept_gil_sizes: list[int]) -> None:
    import asyncio

    from websockets_sync import asyncio as facade

    sizes = kept_gil_sizes

    async def async_echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def main() -> None:
        async with facade.serve(async_echo, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with facade.connect(f"ws://127.0.0.1:{port}/", compression=None) as websocket:
                await websocket.send(b"x" * 16)
                assert await asyncio.wait_for(websocket.recv(), 5) == b"x" * 16

    asyncio.run(asyncio.wait_for(main(), 30))
    assert {16 + 2, 16 + 6} <= set(sizes)
