"""The process asks for the kernel's global futex hash: websockets_sync.futex_hash."""

from __future__ import annotations

import subprocess
import sys

import pytest

from websockets_sync import futex_hash

# In a fresh process: slots of the private futex hash before and after a
# server starts (0 means the global hash; -1, a kernel before Linux 6.17).
SCRIPT = """
import ctypes
import threading
from websockets_sync import serve
# The kernel gives a process its private hash with its second thread.
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
libc = ctypes.CDLL(None, use_errno=True)
def slots():
    return libc.prctl(78, 2, 0, 0, 0)
before = slots()
with serve(lambda websocket: None, "127.0.0.1", 0):
    print(before, slots())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_starting_a_server_switches_to_the_global_hash() -> None:
    output = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    before, after = map(int, output.split())
    if before < 0:
        pytest.skip("no per-process futex hash before Linux 6.17")
    assert before > 0
    assert after == 0


def test_asking_twice_is_harmless() -> None:
    futex_hash.use_global_futex_hash()
    futex_hash.use_global_futex_hash()
    assert futex_hash._done
