"""The facade reads in the event loop, as an asyncio protocol would.

From the first recv() that finds nobody reading, the loop watches the socket
for good and parses what arrives, whether or not a recv() waits. It stops
watching while the queue is full or while its answers to the peer wait for
room in the socket, and a reader thread takes over if the loop is closed
while frames are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

import websockets_sync.asyncio as websockets
from websockets_sync import protocol as protocol_module
from websockets_sync.asyncio import ConnectionClosed, ConnectionClosedOK, WebSocketCommonProtocol

from ..utils import accept_response, read_http_head, wait_for
from .utils import Ticker, run, sync_peer, until


@pytest.fixture(autouse=True)
def park_for_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """No reader thread starts because nobody called recv() for a while."""
    monkeypatch.setattr(protocol_module, "_PARK_PERIOD", 60)


def waiting(websocket: WebSocketCommonProtocol) -> bool:
    """Whether a recv() waits for the reader thread or reads in the loop."""
    connection = websocket.connection
    return bool(connection._wakers or connection._caller_reading)


def no_reader_thread(websocket: WebSocketCommonProtocol) -> bool:
    connection = websocket.connection
    return not connection._reader_running and (
        connection._reader is None or not connection._reader.is_alive()
    )


async def greet(websocket: WebSocketCommonProtocol, server_side: Any) -> None:
    """Send messages while recv() waits, until recv() reads in the loop."""
    for _ in range(20):
        receiving = asyncio.create_task(websocket.recv())
        await until(lambda: waiting(websocket), what="recv() to wait")
        server_side.send("hello")
        assert await asyncio.wait_for(receiving, 5) == "hello"
        if websocket._reader.active:
            return
    raise AssertionError("recv() never reads in the loop")


@contextlib.asynccontextmanager
async def greeted(**client_options: Any) -> AsyncIterator[tuple[WebSocketCommonProtocol, Any]]:
    """A facade client whose recv() reads in the loop, and its sync server side."""
    with sync_peer(**client_options) as peer:
        async with websockets.connect(peer.uri, **client_options) as websocket:
            server_side = await peer.accepted()
            await greet(websocket, server_side)
            yield websocket, server_side


async def open_greeted(peer: Any) -> tuple[WebSocketCommonProtocol, Any]:
    """Like :func:`greeted`, for a test that runs the loop itself: connect and greet."""
    websocket = await websockets.connect(peer.uri)
    server_side = await peer.accepted()
    await greet(websocket, server_side)
    return websocket, server_side


def test_recv_reads_in_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []

    async def main() -> None:
        async with greeted() as (websocket, server_side):
            read_once = websocket.connection._read_once

            def spy(*args: Any, **kwargs: Any) -> bool:
                threads.append(threading.current_thread().name)
                return read_once(*args, **kwargs)

            monkeypatch.setattr(websocket.connection, "_read_once", spy)
            for index in range(20):
                receiving = asyncio.create_task(websocket.recv())
                await asyncio.sleep(0)
                server_side.send(str(index))
                assert await asyncio.wait_for(receiving, 5) == str(index)
            monkeypatch.undo()

    run(main())
    assert len(threads) >= 20
    assert threads == [threading.current_thread().name] * len(threads)


def test_large_messages_read_in_the_loop_arrive_whole() -> None:
    async def main() -> None:
        async with greeted(compression=None, max_size=4 << 20) as (websocket, server_side):
            for size in (16, 100_000, 1 << 20, 3 << 20, 10):
                message = os.urandom(size)
                server_side.send(message)
                assert await asyncio.wait_for(websocket.recv(), 5) == message
            assert websocket._reader.active
            assert no_reader_thread(websocket)

    run(main())


def test_cancelling_a_recv_loses_nothing_and_the_loop_reads_on() -> None:
    async def main() -> None:
        async with greeted() as (websocket, server_side):
            receiving = asyncio.create_task(websocket.recv())
            await asyncio.sleep(0.05)
            receiving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await receiving
            assert websocket._reader.active
            assert not websocket._reader._waiters
            server_side.send("after the cancel")
            assert await asyncio.wait_for(websocket.recv(), 5) == "after the cancel"

    run(main())


def test_the_loop_reads_while_nobody_awaits_recv() -> None:
    async def main() -> None:
        async with greeted() as (websocket, server_side):
            server_side.send("unasked")
            await until(lambda: websocket.connection._messages, what="the loop to queue it")
            assert no_reader_thread(websocket)
            assert await websocket.recv() == "unasked"

    run(main())


def test_the_loop_answers_a_ping_without_a_reader_thread() -> None:
    async def main() -> None:
        async with greeted() as (websocket, _):
            # Nobody calls recv(): the loop reads the pong.
            pong = await websocket.ping()
            assert await asyncio.wait_for(pong, 5) < 5
            assert no_reader_thread(websocket)

    run(main())


def test_the_loop_stops_reading_while_the_queue_is_full() -> None:
    async def main() -> None:
        async with greeted(max_queue=2, compression=None) as (websocket, server_side):
            messages = [os.urandom(200_000) for _ in range(10)]
            sending = asyncio.create_task(
                asyncio.to_thread(lambda: [server_side.send(m) for m in messages])
            )
            connection = websocket.connection
            await until(lambda: len(connection._messages) >= 2, what="the queue to fill")
            await asyncio.sleep(0.2)
            # One read may complete a frame or two past the limit, no more.
            assert len(connection._messages) <= 4
            assert not websocket._reader._watching
            received = [await asyncio.wait_for(websocket.recv(), 5) for _ in messages]
            assert received == messages
            await sending

    run(main())


def test_the_loop_stops_reading_a_peer_that_does_not_take_its_answers() -> None:
    """A peer that floods pings and never reads our pongs: reading waits for the pongs."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        flooding = threading.Event()

        def peer() -> None:
            sock, _ = listener.accept()
            with sock:
                request, _ = read_http_head(sock)
                sock.sendall(accept_response(request))
                ping = b"\x89\x7d" + b"p" * 125
                sock.settimeout(0.5)
                with contextlib.suppress(TimeoutError):
                    while True:
                        sock.sendall(ping * 64)
                        flooding.set()
                # Our receive buffer and the client's send buffer are full.
                flooding.wait()

        thread = threading.Thread(target=peer, daemon=True)
        thread.start()

        async def main() -> None:
            async with Ticker() as ticker:
                websocket = await websockets.connect(
                    f"ws://127.0.0.1:{port}/", compression=None, close_timeout=1
                )
                receiving = asyncio.create_task(websocket.recv())
                reader = websocket._reader
                await until(lambda: reader._flushing, timeout=10, what="pongs to back up")
                assert not reader._watching
                ticks = ticker.ticks
                await asyncio.sleep(0.2)
                assert ticker.ticks > ticks + 20, "the event loop is blocked"
                # The peer hangs up: the pending pongs fail, reading meets the end.
                await asyncio.to_thread(thread.join, 10)
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(receiving, 10)
                await asyncio.wait_for(websocket.wait_closed(), 10)

        run(main(), timeout=30)


def test_a_reader_thread_takes_over_when_the_loop_is_closed() -> None:
    with sync_peer() as peer:
        loop = asyncio.new_event_loop()

        try:
            websocket, server_side = loop.run_until_complete(open_greeted(peer))
        finally:
            loop.close()
        connection = websocket.connection
        # The loop that read is gone: a ping needs a reader thread.
        assert connection.ping().wait(5) < 5
        assert connection._reader is not None
        server_side.send("after the loop")
        assert connection.recv(timeout=5) == "after the loop"
        connection.close()
        assert connection.close_code == 1000


def test_a_loop_that_gave_the_turn_back_leaves_the_next_reader_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After an interrupted loop read, the closed loop never disturbs a thread's read."""
    with sync_peer() as peer:
        loop = asyncio.new_event_loop()

        try:
            websocket, server_side = loop.run_until_complete(open_greeted(peer))
            connection = websocket.connection

            def interrupted() -> bool:
                raise KeyboardInterrupt

            monkeypatch.setattr(connection, "_read_nowait", interrupted)
            receiving = loop.create_task(websocket.recv())
            server_side.send("while interrupted")
            with pytest.raises(KeyboardInterrupt):
                loop.run_until_complete(receiving)
            monkeypatch.undo()
            assert not websocket._reader.active
            receiving.cancel()
            loop.run_until_complete(asyncio.gather(receiving, return_exceptions=True))
        finally:
            loop.close()

        # This thread reads now; a ping from another thread must not start a
        # second reader, whatever the closed loop once asked for.
        assert connection.recv(timeout=5) == "while interrupted"
        received: list[Any] = []
        reading = threading.Thread(target=lambda: received.append(connection.recv(timeout=5)))
        reading.start()
        try:
            wait_for(lambda: connection._caller_reading, what="the thread to read")
            pong = connection.ping()
            assert not connection._reader_running
            assert pong.wait(5) < 5
            server_side.send("to the reading thread")
        finally:
            reading.join(5)
        assert received == ["to the reading thread"]
        assert connection._reader is None
        connection.close()


def test_wait_closed_while_the_loop_reads() -> None:
    async def main() -> None:
        async with greeted() as (websocket, server_side):
            server_side.close_nowait(1000, "bye")
            await asyncio.wait_for(websocket.wait_closed(), 5)
            assert websocket.close_code == 1000
            assert websocket.close_reason == "bye"

    run(main())


def test_peer_closing_while_recv_reads_in_the_loop() -> None:
    async def main() -> None:
        async with greeted() as (websocket, server_side):
            receiving = asyncio.create_task(websocket.recv())
            await until(lambda: websocket.connection._caller_reading, what="recv() to read")
            server_side.close_nowait()
            with pytest.raises(ConnectionClosedOK):
                await asyncio.wait_for(receiving, 5)
            await asyncio.wait_for(websocket.wait_closed(), 5)

    run(main())


def recording_reader_starts(
    monkeypatch: pytest.MonkeyPatch, websocket: WebSocketCommonProtocol
) -> list[str]:
    """Record the reader threads started for ``websocket``'s connection from now on."""
    started: list[str] = []
    connection = websocket.connection
    start_reader = connection._start_reader

    def record() -> None:
        started.append(threading.current_thread().name)
        start_reader()

    monkeypatch.setattr(connection, "_start_reader", record)
    return started


def test_the_loop_closes_the_connection_at_the_end_of_the_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def main() -> None:
        async with greeted() as (websocket, server_side):
            started = recording_reader_starts(monkeypatch, websocket)
            server_side.close_nowait(1000, "bye")
            await asyncio.wait_for(websocket.wait_closed(), 5)
            assert websocket.close_code == 1000
            # No thread started only to close the socket.
            assert started == []
            assert websocket.connection.socket is not None
            assert websocket.connection.socket.fileno() == -1

    run(main())


def test_a_lingering_socket_is_closed_by_a_thread_not_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def main() -> None:
        async with greeted() as (websocket, server_side):
            sock = websocket.connection.socket
            assert sock is not None
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 5))
            started = recording_reader_starts(monkeypatch, websocket)
            server_side.close_nowait(1000, "bye")
            await asyncio.wait_for(websocket.wait_closed(), 5)
            assert websocket.close_code == 1000
            assert started == [threading.current_thread().name]

    run(main())


def test_close_while_the_loop_reads() -> None:
    async def main() -> None:
        async with greeted() as (websocket, _):
            await asyncio.wait_for(websocket.close(), 5)
            assert websocket.close_code == 1000

    run(main())


def test_a_recv_reading_many_messages_at_once_does_not_wait_for_room() -> None:
    """Reading many messages in one go never waits for room in the loop."""

    async def main() -> None:
        async with greeted(max_queue=2) as (websocket, server_side):
            for index in range(50):
                server_side.send(str(index))
            received = [await asyncio.wait_for(websocket.recv(), 5) for _ in range(50)]
            assert received == [str(index) for index in range(50)]

    run(main(), timeout=10)
