"""Idle connections wait for bytes in one poller for the whole process, and wake in turn.

A thread blocked in its own socket's ``recv`` wakes up as soon as bytes
arrive. When thousands of idle connections receive bytes together (every
client closing at once, typically), thousands of threads then wait for the
GIL, and CPython makes each waiter wake up every switch interval (5 ms) to
ask for it: the process spends its time waking threads instead of running
them.

So a read that found nothing for :data:`IDLE_AFTER` seconds hands its socket
to this poller and sleeps on a lock of its own. The poller thread watches
every such socket with one ``epoll`` and wakes their threads one at a time:
the next one when the previous one has read and parsed what came, or after
:data:`TURN_LIMIT` if that takes longer (a peer that doesn't read our answer,
say), so that one slow connection never holds up the others for long.
While many threads await their turns, the poller collects no more events:
they wait in the kernel until few threads are left, instead of waking the
poller, and taking the GIL from the threads, one or two at a time.

The thread starts with the first idle socket and exits soon after the last
one. Where ``epoll`` doesn't exist, sockets aren't handed over: threads wait
in their own ``recv``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable

from .futex_hash import use_global_futex_hash
from .sansio import accelerators

__all__ = ["IDLE_AFTER", "TURN_LIMIT", "available", "receive_timeout", "turn_when_readable"]

#: Seconds without bytes after which a read waits in the shared poller.
IDLE_AFTER = 1.0
#: Seconds after which the poller wakes the next thread even though the
#: previous one hasn't finished its turn.
TURN_LIMIT = 0.01
# How long the poller thread lingers without sockets before it exits: long
# enough for a burst of sockets going idle one after the other, short enough
# that the process is back to its resting threads soon after they all close.
# Starting the thread again costs about 100 µs.
_LINGER = 0.05

# How few threads may await their turns before the poller collects more
# events: enough to keep turns going while it gets the GIL to do so.
_REFILL_AT = 16

_EPOLL_EVENTS = (
    getattr(select, "EPOLLIN", 0)
    | getattr(select, "EPOLLRDHUP", 0)
    | getattr(select, "EPOLLONESHOT", 0)
)


def available() -> bool:
    """Whether idle sockets can be handed to the poller on this platform."""
    return hasattr(select, "epoll") and sys.platform.startswith("linux")


def receive_timeout() -> bytes:
    """The ``SO_RCVTIMEO`` value that makes a blocking read give up after IDLE_AFTER.

    A blocking ``recv`` then raises :exc:`BlockingIOError` once the socket has
    been quiet that long, at no cost while bytes keep coming.
    """
    seconds = int(IDLE_AFTER)
    return struct.pack("@ll", seconds, int((IDLE_AFTER - seconds) * 1_000_000))


class _Waiter:
    """A thread waiting for its socket to be readable, and then for its turn.

    Entering it waits; the ``with`` block is the turn. A plain class, not a
    generator: thousands of threads go through one each when every client
    closes at once.
    """

    __slots__ = ("fd", "poller", "state", "wake")

    def __init__(self, poller: _Poller, fd: int) -> None:
        self.poller = poller
        self.fd = fd
        self.state = "watched"  # then "ready" (readable, awaits its turn), then "woken"
        self.wake = threading.Lock()
        self.wake.acquire()

    def __enter__(self) -> None:
        self.poller._wait(self)

    def __exit__(self, *exc_info: object) -> None:
        self.poller._end_turn(self)


class _Poller:
    """The process-wide poller: one epoll, one thread, one turn at a time."""

    def __init__(self) -> None:
        # Protects every attribute below.
        self._lock = threading.Lock()
        self._epoll: select.epoll | None = None
        self._thread: threading.Thread | None = None
        self._watched: dict[int, _Waiter] = {}
        self._ready: collections.deque[_Waiter] = collections.deque()
        # Threads whose turn runs. One that overruns TURN_LIMIT is dropped
        # from this set: it goes on, but no longer holds the others up.
        self._holders: set[_Waiter] = set()
        self._turns_given = 0  # ever: the poller's measure of progress
        # Released to wake the poller thread while it rests (``_resting``)
        # because enough threads await their turns.
        self._refill = threading.Lock()
        self._refill.acquire()
        self._resting = False

    def turn_when_readable(self, sock: socket.socket) -> _Waiter:
        """Wait until ``sock`` is readable and it's this thread's turn; hold it meanwhile."""
        return _Waiter(self, sock.fileno())

    def _wait(self, waiter: _Waiter) -> None:
        """Watch the waiter's socket, then sleep until it is readable and its turn comes."""
        with self._lock:
            if self._epoll is None:
                self._epoll = select.epoll()
            epoll = self._epoll
            # Watched before it's armed, so that the poller knows whose event
            # comes, and doesn't exit meanwhile.
            self._watched[waiter.fd] = waiter
            if self._thread is None:
                # Each idle thread sleeps on a lock of its own.
                use_global_futex_hash()
                self._thread = threading.Thread(
                    target=self._run, name="websockets_sync-idle", daemon=True
                )
                self._thread.start()
        try:
            # Outside the lock: without the C accelerator, epoll_ctl releases
            # the GIL, and threads that end their turns would queue behind it.
            _arm(epoll, waiter.fd)
        except BaseException:
            with self._lock:
                self._forget(waiter)
            raise
        try:
            waiter.wake.acquire()
        except BaseException:
            # Interrupted (KeyboardInterrupt, typically): leave no trace.
            with self._lock:
                self._forget(waiter)
            raise

    def _end_turn(self, waiter: _Waiter) -> None:
        """The waiter's turn is over: wake the next thread."""
        with self._lock:
            self._holders.discard(waiter)
            self._give_turns()

    def _forget(self, waiter: _Waiter) -> None:
        """Withdraw an interrupted waiter, wherever it got to (lock held)."""
        if waiter.state == "watched":
            del self._watched[waiter.fd]
            assert self._epoll is not None
            with contextlib.suppress(OSError):
                self._epoll.unregister(waiter.fd)
        elif waiter.state == "ready":
            self._ready.remove(waiter)
        else:
            # Woken, but the interruption came first: pass the turn on.
            self._holders.discard(waiter)
            self._give_turns()

    def _give_turns(self) -> None:
        """Wake the next ready thread if no turn runs (lock held)."""
        if self._ready and not self._holders:
            waiter = self._ready.popleft()
            waiter.state = "woken"
            self._holders.add(waiter)
            self._turns_given += 1
            waiter.wake.release()
            if self._resting and len(self._ready) <= _REFILL_AT:
                self._resting = False
                self._refill.release()

    def _run(self) -> None:
        epoll = self._epoll
        assert epoll is not None
        seen = -1
        progress_at = 0.0
        lingered = False
        while True:
            rest = False
            with self._lock:
                now = time.monotonic()
                if self._turns_given != seen:
                    seen, progress_at = self._turns_given, now
                elif self._ready and now - progress_at >= TURN_LIMIT:
                    # The turn overran: let the next thread go.
                    self._holders.clear()
                    self._give_turns()
                    seen, progress_at = self._turns_given, now
                if self._ready:
                    timeout = progress_at + TURN_LIMIT - now
                    # Enough threads await their turns: leave the GIL to them
                    # rather than collect events as they come in, one or two
                    # at a time, until few are left or a turn overruns.
                    rest = self._resting = len(self._ready) > _REFILL_AT
                elif self._watched:
                    # Not forever: an interrupted waiter may withdraw the last socket.
                    timeout, lingered = _LINGER, False
                elif lingered:
                    # Nothing to watch for a while: exit. The next idle socket
                    # starts a new thread.
                    self._thread = self._epoll = None
                    epoll.close()
                    return
                else:
                    timeout, lingered = _LINGER, True
            if rest:
                self._refill.acquire(timeout=timeout)
                with self._lock:
                    self._resting = False
                    self._refill.acquire(blocking=False)  # locked again, either way
                continue
            events = epoll.poll(timeout)
            if events:
                with self._lock:
                    for fd, _ in events:
                        waiter = self._watched.pop(fd, None)
                        if waiter is None:  # pragma: no cover - withdrawn meanwhile
                            continue
                        # One-shot: the fd is disarmed, and stays registered
                        # until the socket closes or waits here again (_arm).
                        waiter.state = "ready"
                        self._ready.append(waiter)
                    self._give_turns()

    def after_fork(self) -> None:
        """In a child process: the poller thread didn't survive the fork; start afresh.

        The waiters belong to threads of the parent, and the epoll instance is
        shared with it.
        """
        self._lock = threading.Lock()
        self._epoll = self._thread = None
        self._watched.clear()
        self._ready.clear()
        self._holders.clear()
        self._refill = threading.Lock()
        self._refill.acquire()
        self._resting = False


def _arm_releasing_gil(epoll: select.epoll, fd: int) -> None:
    """Watch ``fd`` for one event.

    A socket woken once stays registered, disarmed, until it's closed: waking
    it again re-arms it. That saves an ``epoll_ctl`` per wakeup, in the
    poller thread, while thousands of sockets wake together.
    """
    try:
        epoll.register(fd, _EPOLL_EVENTS)
    except FileExistsError:
        epoll.modify(fd, _EPOLL_EVENTS)


def _select_arm() -> Callable[[select.epoll, int], None]:
    """The C accelerator's epoll_ctl, which keeps the GIL, where it was built.

    Each connection that goes quiet arms its socket here: releasing the GIL
    for that system call hands it to another thread, then waits for it back.
    """
    nowait = accelerators.load("websockets_sync._nowait")
    epoll_arm: Callable[[int, int, int], None] | None = getattr(nowait, "epoll_arm", None)
    if epoll_arm is None:  # not built, switched off, or not Linux
        return _arm_releasing_gil

    def arm_keeping_gil(epoll: select.epoll, fd: int) -> None:
        epoll_arm(epoll.fileno(), fd, _EPOLL_EVENTS)

    return arm_keeping_gil


_arm = _select_arm()


_poller = _Poller()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_poller.after_fork)


def turn_when_readable(sock: socket.socket) -> contextlib.AbstractContextManager[None]:
    """Wait, sharing one poller with every idle socket, until ``sock`` is readable.

    On entry the calling thread holds a turn: it should read and parse what
    came, then leave the block, which wakes the next thread.
    """
    return _poller.turn_when_readable(sock)
