"""The process-wide timer thread: websockets_sync.scheduler."""

from __future__ import annotations

import functools
import logging
import threading
import time

import pytest

from websockets_sync.scheduler import COALESCE, _Scheduler

from .utils import MS, wait_for


class CountingScheduler(_Scheduler):
    """A private scheduler that counts how often its thread goes to sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps = 0
        real_wait = self._wakeup.wait

        def counting_wait(timeout: float | None = None) -> bool:
            self.sleeps += 1
            return real_wait(timeout)

        self._wakeup.wait = counting_wait  # type: ignore[method-assign]


def test_timers_run_in_order_never_early() -> None:
    scheduler = _Scheduler()
    ran: list[tuple[int, float]] = []
    done = threading.Event()
    start = time.monotonic()
    delays = [30 * MS, 10 * MS, 20 * MS, 0.0]

    def record(index: int) -> None:
        ran.append((index, time.monotonic()))

    for index, delay in enumerate(delays):
        scheduler.call_later(delay, functools.partial(record, index))
    scheduler.call_later(40 * MS, done.set)
    assert done.wait(5)
    assert [index for index, _ in ran] == [3, 1, 2, 0]
    for index, when in ran:
        assert when - start >= delays[index]


def test_cancelled_timers_dont_run_and_the_thread_exits() -> None:
    scheduler = _Scheduler()
    ran: list[str] = []
    first = scheduler.call_later(20 * MS, lambda: ran.append("first"))
    second = scheduler.call_later(30 * MS, lambda: ran.append("second"))
    assert scheduler.thread is not None
    first.cancel()
    assert first.cancelled and not second.cancelled
    second.cancel()
    second.cancel()  # harmless
    wait_for(lambda: scheduler.thread is None, what="the timer thread to exit")
    time.sleep(50 * MS)
    assert ran == []


def test_the_thread_exits_after_the_last_timer_and_comes_back() -> None:
    scheduler = _Scheduler()
    ran = threading.Event()
    scheduler.call_later(0.0, ran.set)
    assert ran.wait(5)
    wait_for(lambda: scheduler.thread is None, what="the timer thread to exit")
    again = threading.Event()
    scheduler.call_later(0.0, again.set)
    assert again.wait(5)


def test_a_failing_callback_is_logged_and_the_next_ones_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = _Scheduler()
    after = threading.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="websockets_sync.scheduler"):
        scheduler.call_later(0.0, fail)
        scheduler.call_later(5 * MS, after.set)
        assert after.wait(5)
    assert "timer callback failed" in caplog.text and "boom" in caplog.text


def test_timers_due_close_together_run_on_one_wake_up() -> None:
    scheduler = CountingScheduler()
    ran: list[float] = []
    done = threading.Event()
    start = time.monotonic()
    # Ten timers spread over less than half the coalescing window.
    spacing = COALESCE / 25
    for index in range(10):
        scheduler.call_later(0.05 + index * spacing, lambda: ran.append(time.monotonic()))
    scheduler.call_later(0.05 + 9.5 * spacing, done.set)
    assert done.wait(5)
    assert len(ran) == 10
    assert scheduler.sleeps == 1
    # Late by the window at most (and the scheduling delay of a loaded machine).
    assert min(ran) - start >= 0.05
    assert min(ran) - start < 0.05 + COALESCE + 500 * MS


def test_an_earlier_timer_wakes_the_thread_up() -> None:
    scheduler = _Scheduler()
    late = scheduler.call_later(60.0, lambda: None)
    early = threading.Event()
    start = time.monotonic()
    scheduler.call_later(10 * MS, early.set)
    assert early.wait(5)
    assert time.monotonic() - start < 10.0
    late.cancel()
    wait_for(lambda: scheduler.thread is None, what="the timer thread to exit")
