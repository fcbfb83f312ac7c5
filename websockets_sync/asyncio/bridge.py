"""Every crossing between the threaded core and an asyncio event loop.

The core's threads never touch a loop except through :func:`wake_soon`; the
loop never blocks on the core except through :func:`run_blocking`, and reads
a connection's socket only through a :class:`LoopReader`, when it won't block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..protocol import WebSocketCommonProtocol as SyncConnection

__all__ = [
    "LoopReader",
    "run_blocking",
    "run_in_loop",
    "wait_for_event",
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


class LoopReader:
    """Reads a connection in its event loop, as an asyncio protocol would.

    Once :meth:`start` has it take the connection's read turn, the loop
    watches the socket for good and parses whatever arrives, whether or not a
    recv() waits: no thread, no handoff, one system call per wakeup. It stops
    watching while the message queue is full, or while answers to the peer
    (pongs, the Close frame) wait in the executor for room in the socket, and
    hands the turn back at the end of the stream, or to a reader thread if
    the loop is closed while frames are needed.
    """

    #: The loop that reads, from :meth:`start` on.
    loop: asyncio.AbstractEventLoop

    def __init__(self, connection: SyncConnection) -> None:
        self.connection = connection
        #: Whether this reader holds the connection's read turn.
        self.active = False
        self._fd = -1
        self._watching = False
        self._flushing = False
        self._waiters: list[asyncio.Future[None]] = []

    def start(self) -> bool:
        """Take the read turn in the running loop, if nobody reads; return whether it did."""
        connection = self.connection
        self.loop = asyncio.get_running_loop()
        if not connection._try_claim_read_turn(self._frames_wanted):
            return False
        assert connection.socket is not None
        self._fd = connection.socket.fileno()
        self.active = True
        # Bytes may be waiting already, some of them since the handshake.
        self._read()
        return True

    async def wait(self) -> None:
        """Wait until a message is queued or reading ends; cancelling loses nothing."""
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter.cancelled() and waiter in self._waiters:
                self._waiters.remove(waiter)

    def message_taken(self) -> None:
        """recv() dequeued a message: there may be room to read again."""
        if self.active and not self._watching:
            self._update()

    def _frames_wanted(self) -> bool:
        """From any thread: the peer's frames are needed (a ping, the close).

        Return ``False`` if the loop is closed: a reader thread takes over.
        """
        if wake_soon(self.loop, self._update):
            return True
        self.active = False
        return False

    def _read(self) -> None:
        """Read and parse what the socket has; called when it is readable."""
        connection = self.connection
        try:
            go_on = connection._read_nowait()
        except OSError as exc:
            self._stop(False, exc)
            return
        except BaseException:
            # Not the stream's end (KeyboardInterrupt, typically): the
            # connection stays open for whoever reads next.
            self._stop(True, None)
            raise
        if go_on is False:
            self._stop(False, None)
            return
        if go_on is not None:
            target = connection._queued
            if not connection._is_flushed(target):
                # The peer isn't reading: hold back its stream until it takes our answers.
                self._flushing = True
                flushing = self.loop.run_in_executor(None, connection._flush_answers, target)
                flushing.add_done_callback(self._answers_flushed)
            if connection._messages:
                self._wake_waiters()
        self._update()

    def _answers_flushed(self, future: asyncio.Future[None]) -> None:
        self._flushing = False
        if not future.cancelled():
            # A timeout dropped the connection; reading meets its end.
            future.exception()
        self._update()

    def _update(self) -> None:
        """Watch the socket if, and only if, reading may go on."""
        connection = self.connection
        watch = self.active and not (self._flushing or connection._queue_holds_reading_back())
        if watch and not self._watching:
            self.loop.add_reader(self._fd, self._read)
        elif self._watching and not watch:
            self.loop.remove_reader(self._fd)
        self._watching = watch

    def _stop(self, go_on: bool, error: OSError | None) -> None:
        """Hand the read turn back; at the end of the stream, close the connection.

        Closing happens here unless it would wait, for a sender blocked on
        the peer or for ``SO_LINGER``: then a thread closes, not the event loop.
        """
        self.active = False
        self._update()
        connection = self.connection
        must_close = connection._release_read_turn(go_on, error, caller=True)
        if must_close and not connection._connection_lost(may_wait=False):
            connection._close_in_reader_thread()
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


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
