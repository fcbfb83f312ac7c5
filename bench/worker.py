"""The entry point of every benchmark process: ``python -m bench.worker ROLE ...``.

Roles: ``server IMPL`` (an echo server of one implementation), ``client IMPL``
(a client that measures round trips on command) and ``loadgen`` (the fixed
load generator). The parent, :mod:`bench.runner`, talks to a worker with one
JSON object per line: the worker announces itself with ``{"ready": true, ...}``
and then answers each command ``{"op": ...}`` with one line, ``{"error": ...}``
on failure. End of input means "stop".

A worker pins itself to a CPU first if asked (before any thread exists, so
that every thread inherits the pinning), asks the kernel to kill it if the
parent dies, and raises its file descriptor limit. ``kill -USR1`` makes it
write the stacks of its threads to its log (stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import faulthandler
import inspect
import json
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1


def _setup_process(cpu: int | None) -> None:
    # `kill -USR1 PID` writes every thread's stack to the worker's log.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    raise_nofile_limit()


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class _Channel:
    """The JSON-lines link to the parent, on a private copy of stdout.

    File descriptor 1 is pointed at stderr, so that whatever a library prints
    can't corrupt the protocol.
    """

    def __init__(self) -> None:
        self._out: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        self._in = sys.stdin

    def send(self, **message: Any) -> None:
        self._out.write(json.dumps(message) + "\n")

    def receive(self) -> dict[str, Any] | None:
        line = self._in.readline()
        if not line:
            return None
        return json.loads(line)  # type: ignore[no-any-return]

    def serve(self, handlers: dict[str, Callable[..., dict[str, Any] | None]]) -> None:
        """Answer commands until end of input or ``{"op": "stop"}``."""
        while (command := self.receive()) is not None:
            op = command.pop("op")
            if op == "stop":
                break
            try:
                self.send(**(handlers[op](**command) or {}))
            except Exception as exc:
                self.send(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())


def _messages(kind: str, size: int, pool: int = 1) -> list[str] | list[bytes]:
    from . import payloads

    if kind == "text":
        return list(payloads.text_pool(size, pool))
    return [payloads.binary(size)]


def _run_server(channel: _Channel, implementation: str, compression: bool, backlog: int) -> None:
    from .peers import SERVERS, ServerOptions

    options = ServerOptions(compression=compression, backlog=backlog)
    start = SERVERS[implementation]
    if inspect.iscoroutinefunction(start):
        _run_async_server(channel, start, options)
        return
    port, stop = start(options)  # type: ignore[misc]
    channel.send(ready=True, pid=os.getpid(), port=port)
    try:
        channel.serve({})
    finally:
        stop()


def _run_async_server(channel: _Channel, start: Any, options: Any) -> None:
    """Run the event loop in the main thread, as an application would, until stdin closes."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        port, stop = await start(options)
        done = loop.create_future()

        def on_input() -> None:
            # Any input line means "stop"; so does end of input.
            sys.stdin.readline()
            loop.remove_reader(sys.stdin.fileno())
            if not done.done():
                done.set_result(None)

        loop.add_reader(sys.stdin.fileno(), on_input)
        channel.send(ready=True, pid=os.getpid(), port=port)
        try:
            await done
        finally:
            await stop()

    asyncio.run(main())


def _run_client(channel: _Channel, implementation: str) -> None:
    from .peers import CLIENTS

    client = CLIENTS[implementation]()
    state = {"open": False}

    def open_(port: int, compression: bool = False) -> None:
        client.open(port, compression=compression)
        state["open"] = True

    def run(
        size: int, duration: float, warmup: float, kind: str = "binary", pool: int = 1
    ) -> dict[str, Any]:
        messages = _messages(kind, size, pool)
        if warmup:
            client.run(messages, warmup)
        count, elapsed = client.run(messages, duration)
        return {"count": count, "elapsed": elapsed}

    def close() -> None:
        if state["open"]:
            state["open"] = False
            client.close()

    channel.send(ready=True, pid=os.getpid())
    try:
        channel.serve({"open": open_, "run": run, "close": close})
    finally:
        close()


def _run_loadgen(channel: _Channel) -> None:
    from .loadgen import LoadGenerator

    state: dict[str, LoadGenerator] = {}

    def open_(
        port: int,
        count: int = 1,
        mode: str = "ws",
        concurrency: int = 100,
        timeout: float = 600,
        tolerate: bool = False,
    ) -> dict[str, Any]:
        """Open connections; with ``tolerate``, a failure is reported, not raised."""
        generator = LoadGenerator(port, mode)
        state["generator"] = generator
        start = time.perf_counter()
        try:
            seconds = generator.open(count, concurrency, timeout)
        except (OSError, TimeoutError) as exc:
            if not tolerate:
                generator.close(timeout=1)
                raise
            return {
                "seconds": time.perf_counter() - start,
                "opened": len(generator.connections),
                "failure": f"{type(exc).__name__}: {exc}",
            }
        return {"seconds": seconds, "opened": count}

    def run(size: int, duration: float, warmup: float, kind: str = "binary") -> dict[str, Any]:
        generator = state["generator"]
        generator.prepare(_messages(kind, size)[0], text=kind == "text")  # type: ignore[arg-type]
        if warmup:
            generator.run(warmup)
        count, elapsed = generator.run(duration)
        return {"count": count, "elapsed": elapsed}

    def close(timeout: float = 10) -> dict[str, Any]:
        generator = state.pop("generator", None)
        return {} if generator is None else generator.close(timeout)

    channel.send(ready=True, pid=os.getpid())
    try:
        channel.serve({"open": open_, "run": run, "close": close})
    finally:
        close(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("role", choices=["server", "client", "loadgen"])
    parser.add_argument("implementation", nargs="?")
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--backlog", type=int, default=1024)
    args = parser.parse_args(argv)
    _setup_process(args.cpu)
    channel = _Channel()
    try:
        if args.role == "server":
            _run_server(channel, args.implementation, args.compression, args.backlog)
        elif args.role == "client":
            _run_client(channel, args.implementation)
        else:
            _run_loadgen(channel)
    except Exception as exc:
        # Report start-up failures (a missing package, a bad option) to the parent.
        channel.send(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
