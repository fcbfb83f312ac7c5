"""Fixtures shared by every test: no thread and no socket may outlive a test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .utils import library_threads, open_sockets


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a library thread running or a socket open."""
    threads_before = library_threads()
    sockets_before = open_sockets()
    yield
    deadline = time.monotonic() + 3.0
    while True:
        threads = library_threads() - threads_before
        sockets = open_sockets() - sockets_before
        if not threads and not sockets:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    names = sorted(t.name for t in threads)
    pytest.fail(f"leaked threads: {names}; leaked sockets: {len(sockets)}")
