"""Every crossing between the threaded core and an asyncio event loop.

The core's threads never touch a loop except through :func:`wake_soon`; the
loop never blocks on the core except through :func:`run_blocking`, and reads
a connection's socket only once :func:`wait_readable` says it won't block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..protocol import WebSocketCommonProtocol as SyncConnection

__all__ = [
    "run_blocking",
    "run_in_loop",
    "wait_for_event",
    "wait_readable",
    "wake_soon",
    "wrap_future",
]

T = TypeVar("T")


def wake_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> bool:
    """Schedule ``callback`` in ``loop`` from any thread; ``False`` if the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True


async def wait_for_event(connection: SyncConnection, *, close_only: bool = False) -> None:
    """Wait, without holding a thread, for the next message or the close of ``connection``.

    The reader thread of the connection wakes the loop; cancelling the wait
    unregisters the waker and leaves every message in the queue.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    fired = False

    def waker() -> None:
        nonlocal fired
        fired = True
        wake_soon(loop, _resolve, future)

    connection.add_waker(waker, close_only=close_only)
    try:
        await future
    finally:
        # A waker that ran is already gone; only a cancelled wait leaves one.
        if not fired:
            connection.remove_waker(waker)


async def wait_readable(sock: socket.socket) -> None:
    """Wait in the running loop until ``sock`` has bytes, or EOF, to read."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, _resolve, future)
    try:
        await future
    finally:
        loop.remove_reader(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def run_blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a call that may block on the network in the loop's default executor."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(function, *args, **kwargs))


def wrap_future(future: concurrent.futures.Future[T]) -> asyncio.Future[T]:
    """Make a future resolved by a core thread awaitable in the running loop."""
    return asyncio.wrap_future(future)


def run_in_loop(
    loop: asyncio.AbstractEventLoop, awaitable: Awaitable[T], timeout: float | None
) -> T:
    """From a core thread, run ``awaitable`` in ``loop`` and wait for its result."""

    async def run() -> T:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)
