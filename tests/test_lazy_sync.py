"""Condition and event that are created on the first wait: websockets_sync.lazy_sync."""

from __future__ import annotations

import threading
import time

from websockets_sync.lazy_sync import LazyCondition, LazyEvent

from .utils import MS


def test_condition_costs_nothing_until_a_wait() -> None:
    lock = threading.Lock()
    condition = LazyCondition(lock)
    with lock:
        condition.notify_all()  # nobody waits: nothing to create
    assert condition._condition is None


def test_condition_wait_times_out_and_is_woken() -> None:
    lock = threading.Lock()
    condition = LazyCondition(lock)
    with lock:
        assert condition.wait(10 * MS) is False
    woken: list[bool] = []

    def waiter() -> None:
        with lock:
            woken.append(condition.wait(5))

    thread = threading.Thread(target=waiter)
    thread.start()
    while True:
        with lock:
            if condition._condition is not None and condition._condition._waiters:  # type: ignore[attr-defined]
                condition.notify_all()
                break
        time.sleep(MS)
    thread.join(5)
    assert woken == [True]


def test_event_set_before_any_wait() -> None:
    event = LazyEvent()
    assert not event.is_set()
    event.set()
    assert event.is_set()
    assert event.wait(0) is True
    assert event._event is None


def test_event_wait_times_out_then_sees_the_set() -> None:
    event = LazyEvent()
    assert event.wait(10 * MS) is False
    event.set()
    assert event.wait(0) is True


def test_event_wakes_every_waiter() -> None:
    event = LazyEvent()
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(event.wait(5))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(20 * MS)
    event.set()
    for thread in threads:
        thread.join(5)
    assert results == [True] * 8


def test_event_set_racing_with_the_first_wait() -> None:
    """However set() and the first wait() interleave, the waiter sees the flag."""

    def wait(event: LazyEvent, results: list[bool]) -> None:
        results.append(event.wait(5))

    for _ in range(200):
        event = LazyEvent()
        results: list[bool] = []
        waiter = threading.Thread(target=wait, args=(event, results))
        waiter.start()
        event.set()
        waiter.join(5)
        assert results == [True]
