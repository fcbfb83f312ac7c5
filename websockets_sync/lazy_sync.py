"""Synchronization primitives that cost nothing until a thread waits on them.

A server holding thousands of idle connections keeps a few condition
variables and events per connection, and most of them never see a waiter.
A :class:`threading.Condition` costs about a kilobyte (its waiter deque, its
attributes); these wrappers create it on the first wait instead.
"""

from __future__ import annotations

import threading

__all__ = ["LazyCondition", "LazyEvent"]

# Serializes the creation of an event's inner Event by concurrent waiters.
_creation = threading.Lock()


class LazyCondition:
    """A condition variable on ``lock``, created when a thread first waits.

    Only :meth:`wait` and :meth:`notify_all` are offered, both called with
    ``lock`` held, so creation needs no more locking.
    """

    __slots__ = ("_condition", "_lock")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._condition: threading.Condition | None = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until notified or ``timeout`` expires (lock held)."""
        if self._condition is None:
            self._condition = threading.Condition(self._lock)
        return self._condition.wait(timeout)

    def notify_all(self) -> None:
        """Wake every waiting thread (lock held)."""
        if self._condition is not None:
            self._condition.notify_all()


class LazyEvent:
    """A :class:`threading.Event` that can only be set once, created when a thread first waits."""

    __slots__ = ("_event", "_flag")

    def __init__(self) -> None:
        self._flag = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiting thread."""
        self._flag = True
        event = self._event
        if event is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set or ``timeout`` expires; return the flag."""
        if self._flag:
            return True
        with _creation:
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        # set() may have run before the inner event existed.
        if self._flag:
            event.set()
        return event.wait(timeout)
