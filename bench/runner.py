"""Processes, pinning, interleaving and medians: the machinery every scenario shares.

Each server, client and load generator runs in a process of its own
(:mod:`bench.worker`), so that no two of them compete for one GIL. A
:class:`Pool` starts them and guarantees they are gone when it exits, even
after an error or Ctrl-C: first it closes their input (the polite "stop"),
then it kills whatever is left. Workers also ask the kernel to kill them if
the parent dies.

Every command to a worker has a deadline; a worker that misses it is killed
and the error carries the end of its stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "ROOT",
    "BenchError",
    "Pool",
    "Settings",
    "Worker",
    "interleave",
    "process_stats",
    "summarize",
    "thread_count",
]

#: The repository root: the parent of the ``bench`` package.
ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")
_P = TypeVar("_P", bound="Pool")


class BenchError(Exception):
    """A worker failed, timed out, or answered with an error."""


@dataclass
class Settings:
    """What a run measures and for how long; built by :mod:`bench.__main__`."""

    #: Message sizes of the one-connection cells, in bytes.
    sizes: tuple[int, ...] = (16, 1024, 65536, 1048576)
    #: Samples per cell; the table shows their median.
    repeats: int = 5
    #: Seconds of round trips per sample.
    duration: float = 1.0
    #: Seconds of round trips before each sample, not counted.
    warmup: float = 0.1
    #: The CPU both processes of a one-connection cell are pinned to.
    cpu: int = 0
    #: Concurrent connections of the "concurrency" scenario.
    connections: int = 50
    #: Message sizes of the "concurrency" scenario.
    concurrency_sizes: tuple[int, ...] = (16, 1024)
    #: Text sizes of the "compression" scenario.
    compression_sizes: tuple[int, ...] = (1024, 65536)
    #: Connections held by each server in the "idle" scenario.
    idle_connections: int = 10_000
    #: Samples of the "idle" scenario, per server, each in a fresh process;
    #: the table shows their median (a release is one measurement of a few
    #: seconds, on a machine whose speed varies by a third from minute to minute).
    idle_repeats: int = 3
    #: Implementations to measure; empty for all.
    implementations: frozenset[str] = frozenset()
    #: Where workers' logs go while they run (kept on failure).
    log_dir: Path | None = None
    #: Extra notes recorded with the results.
    extra: dict[str, Any] = field(default_factory=dict)

    def wants(self, implementation: str) -> bool:
        return not self.implementations or implementation in self.implementations

    @property
    def run_timeout(self) -> float:
        """Deadline of one sample, generous for a loaded machine."""
        return 60 + 5 * (self.duration + self.warmup)


class _LineReader:
    """Lines from a pipe, with a deadline; never blocks past it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def readline(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            data = os.read(self.fd, 65536)
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


class Worker:
    """One benchmark process, started by a :class:`Pool`.

    Args:
        args: Arguments of ``python -m bench.worker``.
        cpu: Pin the process and all its threads to this CPU.
        log: File receiving the worker's stderr.
        name: For error messages.
        prefix: The command that runs Python, e.g. under a profiler.
    """

    def __init__(
        self,
        args: Sequence[str],
        cpu: int | None,
        log: Path,
        name: str,
        *,
        prefix: Sequence[str] = (sys.executable,),
    ) -> None:
        self.name = name
        self.log = log
        command = [*prefix, "-m", "bench.worker", *args]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.pop("PYTHONWARNINGS", None)
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=ROOT,
                env=env,
            )
        assert self.process.stdout is not None
        self._lines = _LineReader(self.process.stdout.fileno())
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        self.info = self.receive(timeout)
        return self.info

    def call(self, op: str, timeout: float, /, **arguments: Any) -> dict[str, Any]:
        """Send a command and return its answer.

        Raises:
            BenchError: The worker failed, answered with an error, or timed out.
        """
        self.send(op, **arguments)
        return self.receive(timeout)

    def send(self, op: str, /, **arguments: Any) -> None:
        """Send a command without waiting for the answer; :meth:`receive` gets it."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps({"op": op, **arguments}) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            raise self._error("exited") from None

    def receive(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        try:
            line = self._lines.readline(timeout)
            # Lines that aren't JSON come from a wrapper such as py-spy: skip them.
            while line is not None and not line.startswith(b"{"):
                line = self._lines.readline(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self.kill()
            raise self._error(f"timed out after {timeout:.0f} s") from None
        if line is None:
            self.process.wait()
            raise self._error(f"exited with code {self.process.returncode}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise self._error(answer["error"])
        return answer

    def _error(self, what: str) -> BenchError:
        with contextlib.suppress(OSError):
            tail = self.log.read_text(errors="replace").strip().splitlines()[-15:]
            if tail:
                what += "\n    " + "\n    ".join(tail)
        return BenchError(f"{self.name}: {what}")

    def stop(self, timeout: float = 10) -> None:
        """Ask the worker to stop (end of input), then kill it if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class Pool:
    """Starts workers and makes sure none outlives the ``with`` block."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workers: list[Worker] = []
        self._own_dir = settings.log_dir is None
        self.log_dir = settings.log_dir or Path(tempfile.mkdtemp(prefix="bench-logs-"))
        self._failed = False

    def __enter__(self: _P) -> _P:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._failed = self._failed or exc_type is not None
        self.close()

    def close(self) -> None:
        workers, self.workers = self.workers, []
        # Stop them all at once, then wait: servers last, so clients close cleanly.
        for worker in workers:
            if worker.info.get("port") is None:
                worker.stop(timeout=10)
        for worker in workers:
            worker.stop(timeout=10)
        if self._own_dir and not self._failed:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def start(self, name: str, args: Sequence[str], *, pinned: bool) -> Worker:
        """Start a worker and wait until it is ready."""
        log = self.log_dir / f"{len(self.workers):03d}-{name.replace(' ', '_')}.log"
        worker = Worker(args, self.settings.cpu if pinned else None, log, name)
        self.workers.append(worker)
        try:
            worker.wait_ready()
        except BenchError:
            self._failed = True
            raise
        return worker

    def server(self, implementation: str, *, pinned: bool, compression: bool = False) -> Worker:
        args = ["server", implementation] + (["--compression"] if compression else [])
        return self.start(f"server {implementation}", args, pinned=pinned)

    def client(
        self, implementation: str, port: int, *, pinned: bool, compression: bool = False
    ) -> Worker:
        worker = self.start(f"client {implementation}", ["client", implementation], pinned=pinned)
        worker.call("open", 60, port=port, compression=compression)
        return worker

    def loadgen(self, port: int, *, pinned: bool, count: int = 1, mode: str = "ws") -> Worker:
        worker = self.start("loadgen", ["loadgen"], pinned=pinned)
        worker.call("open", 600, port=port, count=count, mode=mode)
        return worker


def interleave(
    contenders: Sequence[T],
    columns: Sequence[Any],
    repeats: int,
    measure: Callable[[T, Any], float],
    *,
    on_error: Callable[[T, Any, BenchError], None] | None = None,
) -> dict[tuple[int, Any], list[float]]:
    """Measure every contender in every column, ``repeats`` times, interleaved.

    Within a repeat, the contenders run one after the other (A B C, then
    C B A in the next repeat, so that none always follows the same one), so
    that a slow spell of a noisy machine hits them all alike. Returns the
    samples, keyed by (contender index, column). A contender that fails is
    reported to ``on_error`` and left out of later rounds of that column.
    """
    samples: dict[tuple[int, Any], list[float]] = {}
    failed: set[tuple[int, Any]] = set()
    for repeat in range(repeats):
        for column in columns:
            order = list(enumerate(contenders))
            if repeat % 2:
                order.reverse()
            for index, contender in order:
                if (index, column) in failed:
                    continue
                try:
                    value = measure(contender, column)
                except BenchError as exc:
                    if on_error is None:
                        raise
                    failed.add((index, column))
                    on_error(contender, column, exc)
                    continue
                samples.setdefault((index, column), []).append(value)
    return samples


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    """Median and spread of a cell's samples."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": list(samples),
    }


def process_stats(pid: int) -> dict[str, int]:
    """Resident memory (bytes), threads and open descriptors of a process, from /proc.

    Cheap enough to poll a process with 20,000 threads: the thread count is
    the link count of ``/proc/PID/task``, the memory comes from ``statm``.
    Counting descriptors lists ``/proc/PID/fd``: a few milliseconds with
    10,000 of them.
    """
    with open(f"/proc/{pid}/statm") as statm:
        rss = int(statm.read().split()[1]) * _PAGE_SIZE
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss": rss, "threads": thread_count(pid), "fds": fds}


def thread_count(pid: int) -> int:
    """Threads of a process: the link count of ``/proc/PID/task``, no listing."""
    return os.stat(f"/proc/{pid}/task").st_nlink - 2


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t:`` sets ``t["seconds"]`` on exit."""
    result: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
