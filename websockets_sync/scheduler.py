"""One timer thread for the whole process, shared by every connection.

Keepalive pings, pong timeouts and closing timeouts are short callbacks that
never block; running them all on one thread keeps the thread count at one or
two per connection however many timers are armed. The thread starts when the
first timer is armed and exits as soon as none is left.

Timers are coarse: one may run up to :data:`COALESCE` seconds late, so that
those due close together run on one wake-up of the thread. A server opening
a thousand connections a second arms as many timers; each wake-up costs a
thread switch and a hand-over of the GIL.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["TimerHandle", "call_later"]

_logger = logging.getLogger("websockets_sync.scheduler")

#: How late a timer may run: the timer thread sleeps this much longer than
#: the next timer needs, and runs every timer due by then.
COALESCE = 0.01


class TimerHandle:
    """A callback armed with :func:`call_later`; :meth:`cancel` disarms it."""

    __slots__ = ("_callback", "_scheduler", "when")

    def __init__(self, when: float, callback: Callable[[], None], scheduler: _Scheduler) -> None:
        self.when = when
        self._callback: Callable[[], None] | None = callback
        self._scheduler = scheduler

    def cancel(self) -> None:
        """Disarm the timer; harmless if it already ran or was cancelled."""
        self._scheduler.cancel(self)

    @property
    def cancelled(self) -> bool:
        """Whether the timer ran or was cancelled."""
        return self._callback is None


class _Scheduler:
    """A heap of timers served by one lazily started daemon thread."""

    def __init__(self) -> None:
        # Protects the heap, the live count and the thread reference.
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._counter = itertools.count()
        self._live = 0
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(time.monotonic() + delay, callback, self)
        with self._lock:
            heapq.heappush(self._heap, (handle.when, next(self._counter), handle))
            self._live += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="websockets_sync-timers", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is handle:
                self._wakeup.notify()
        return handle

    def cancel(self, handle: TimerHandle) -> None:
        with self._lock:
            if handle._callback is None:
                return
            handle._callback = None
            self._live -= 1
            # Cancelled entries stay in the heap until they surface; when none
            # is live any more, drop them all so that the thread can exit now.
            if self._live == 0:
                self._heap.clear()
                self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                callback = self._next_due()
                if callback is None:
                    self._thread = None
                    return
            try:
                callback()
            except Exception:
                _logger.exception("timer callback failed")

    def _next_due(self) -> Callable[[], None] | None:
        """Wait for the next live timer and claim its callback (lock held)."""
        while self._heap:
            when, _, handle = self._heap[0]
            if handle._callback is None:
                heapq.heappop(self._heap)
                continue
            delay = when - time.monotonic()
            if delay > 0:
                self._wakeup.wait(delay + COALESCE)
                continue
            heapq.heappop(self._heap)
            callback, handle._callback = handle._callback, None
            self._live -= 1
            return callback
        return None

    def after_fork(self) -> None:
        """In a child process: the timer thread didn't survive the fork.

        Timers armed before the fork stay; the next one armed starts a thread.
        """
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._thread = None

    @property
    def thread(self) -> threading.Thread | None:
        """The timer thread, while one runs."""
        return self._thread


_scheduler = _Scheduler()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_scheduler.after_fork)


def call_later(delay: float, callback: Callable[[], None]) -> TimerHandle:
    """Run ``callback`` on the shared timer thread after ``delay`` seconds.

    The callback must return quickly and never block: every connection in the
    process shares this thread.
    """
    return _scheduler.call_later(delay, callback)
