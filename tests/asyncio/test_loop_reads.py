"""The facade's recv() reads in the event loop; a reader thread runs only when needed.

When no reader thread reads, recv() calls read the socket in the loop: at
once if bytes are there, else after watching the socket with
``add_reader``. A reader thread starts when something needs the peer's
frames and nobody reads: a ping, the close.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

import websockets_sync.asyncio as websockets
from websockets_sync import protocol as protocol_module
from websockets_sync.asyncio import ConnectionClosedOK, WebSocketCommonProtocol

from .utils import run, sync_peer, until


@pytest.fixture(autouse=True)
def park_for_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the parked reader thread parked unless something wakes it."""
    monkeypatch.setattr(protocol_module, "_PARK_PERIOD", 60)


def waiting(websocket: WebSocketCommonProtocol) -> bool:
    """Whether a recv() waits for the reader thread or reads in the loop."""
    connection = websocket.connection
    return bool(connection._wakers or connection._caller_reading)


async def greet(websocket: WebSocketCommonProtocol, server_side: Any) -> None:
    """Send messages while recv() waits, until recv() reads in the loop."""
    for _ in range(20):
        receiving = asyncio.create_task(websocket.recv())
        await until(lambda: waiting(websocket), what="recv() to wait")
        server_side.send("hello")
        assert await asyncio.wait_for(receiving, 5) == "hello"
        if websocket.connection._caller_reads:
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
            assert websocket.connection._caller_reads > 1

    run(main())


def test_cancelling_a_recv_that_reads_in_the_loop_gives_the_turn_back() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with greeted() as (websocket, server_side):
            connection = websocket.connection
            receiving = asyncio.create_task(websocket.recv())
            await until(lambda: connection._caller_reading, what="recv() to read")
            receiving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await receiving
            assert not connection._reading
            assert connection.socket is not None
            assert not loop.remove_reader(connection.socket.fileno())
            server_side.send("after the cancel")
            assert await asyncio.wait_for(websocket.recv(), 5) == "after the cancel"

    run(main())


def test_a_ping_wakes_the_parked_reader() -> None:
    async def main() -> None:
        async with greeted() as (websocket, _):
            # Nobody calls recv(): the reader thread must read the pong.
            pong = await websocket.ping()
            assert await asyncio.wait_for(pong, 5) < 5

    run(main())


def test_wait_closed_wakes_the_parked_reader() -> None:
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


def test_close_wakes_the_parked_reader() -> None:
    async def main() -> None:
        async with greeted() as (websocket, _):
            await asyncio.wait_for(websocket.close(), 5)
            assert websocket.close_code == 1000

    run(main())


def test_the_parked_reader_reads_once_recv_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol_module, "_PARK_PERIOD", 50 / 1000)

    async def main() -> None:
        async with greeted() as (websocket, server_side):
            server_side.send("unasked")
            # Nobody calls recv(): the reader thread must take over.
            await until(lambda: websocket.connection._messages, what="the reader to queue it")
            assert websocket.connection._caller_reading is False
            assert await websocket.recv() == "unasked"

    run(main())


def test_a_recv_reading_many_messages_at_once_does_not_wait_for_room() -> None:
    """The queue limit holds back the reader thread, never the loop that drains it."""

    async def main() -> None:
        async with greeted(max_queue=2) as (websocket, server_side):
            for index in range(50):
                server_side.send(str(index))
            received = [await asyncio.wait_for(websocket.recv(), 5) for _ in range(50)]
            assert received == [str(index) for index in range(50)]

    run(main(), timeout=10)
