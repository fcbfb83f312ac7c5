"""The command line, run as a subprocess: ``python -m websockets_sync``.

``serve`` runs an echo server until Ctrl-C (SIGINT) and exits cleanly;
``connect URI`` sends each line of standard input and prints each message
received.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from websockets_sync import connect, serve

from .utils import Echo, server_uri

ROOT = Path(__file__).resolve().parent.parent
# Process startup dominates; the exchanges themselves take milliseconds.
STEP_TIMEOUT = 10.0


class CLI:
    """A ``python -m websockets_sync`` subprocess whose output is read line by line."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "websockets_sync", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, name="test-cli-stdout", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_line(self) -> str:
        """The next line of standard output; fail on EOF or after STEP_TIMEOUT."""
        try:
            line = self.lines.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            raise AssertionError("no output from the command line") from None
        if line is None:
            raise AssertionError(f"output ended; stderr: {self.stderr()}")
        return line

    def rest_of_output(self) -> list[str]:
        """Every remaining line of standard output, once the process has exited."""
        self.reader.join(STEP_TIMEOUT)
        lines = []
        while (line := self.lines.get_nowait()) is not None:
            lines.append(line)
        return lines

    def write_line(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self) -> int:
        return self.process.wait(STEP_TIMEOUT)

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def stop(self) -> None:
        """Kill the process if a test failed before it exited; close the pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reader.join(STEP_TIMEOUT)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


@contextmanager
def cli(*args: str) -> Iterator[CLI]:
    process = CLI(*args)
    try:
        yield process
    finally:
        process.stop()


def test_serve_until_sigint() -> None:
    """The echo server picks a port (--port 0), prints it, echoes, and exits 0 on Ctrl-C."""
    with cli("serve", "--host", "127.0.0.1", "--port", "0") as server:
        banner = server.read_line()
        match = re.fullmatch(r"echo server listening on (ws://127\.0\.0\.1:(\d+)/) .*", banner)
        assert match is not None, banner
        assert int(match[2]) != 0
        with connect(match[1]) as client:
            client.send("over the wire")
            assert client.recv(timeout=5) == "over the wire"
            client.send(b"\x00bytes")
            assert client.recv(timeout=5) == b"\x00bytes"
        server.process.send_signal(signal.SIGINT)
        assert server.wait() == 0
        assert "Traceback" not in server.stderr()


def test_serve_closes_open_connections_on_sigint() -> None:
    with cli("serve", "--host", "127.0.0.1", "--port", "0") as server:
        banner = server.read_line()
        uri = banner.split()[4]
        with connect(uri) as client:
            server.process.send_signal(signal.SIGINT)
            client.wait_closed(timeout=STEP_TIMEOUT)
            assert client.close_code == 1001
        assert server.wait() == 0


def test_connect_sends_lines_and_prints_messages() -> None:
    with serve(Echo, "127.0.0.1", 0) as echo_server:
        with cli("connect", server_uri(echo_server, "/cli")) as client:
            for line in ("hello", "wörld", ""):
                client.write_line(line)
                assert client.read_line() == f"< {line}"
            client.close_stdin()
            assert client.wait() == 0
            assert client.rest_of_output() == ["connection closed"]
            assert "Traceback" not in client.stderr()


def test_connect_with_piped_input_prints_the_answers_before_closing() -> None:
    """Input that ends at once (a pipe) still gets the answers to its last lines."""
    with serve(Echo, "127.0.0.1", 0) as echo_server:
        result = subprocess.run(
            [sys.executable, "-m", "websockets_sync", "connect", server_uri(echo_server)],
            input="hello\nworld\n",
            capture_output=True,
            text=True,
            timeout=10,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["< hello", "< world", "connection closed"]


def test_connect_prints_binary_messages_as_repr() -> None:
    def handler(websocket: Any) -> None:
        websocket.send(b"\x00\xff")
        websocket.recv()

    with serve(handler, "127.0.0.1", 0) as binary_server:
        with cli("connect", server_uri(binary_server)) as client:
            assert client.read_line() == "< b'\\x00\\xff'"
            client.close_stdin()
            assert client.wait() == 0


def test_connect_reports_a_server_that_closes() -> None:
    def handler(websocket: Any) -> None:
        websocket.close(1011, "going away")

    with serve(handler, "127.0.0.1", 0) as closing_server:
        with cli("connect", server_uri(closing_server)) as client:
            line = client.read_line()
            assert line.startswith("connection closed:") and "1011" in line
            client.close_stdin()
            assert client.wait() == 0


@pytest.mark.parametrize(
    "uri", ["ws://127.0.0.1:1/", "http://127.0.0.1/"], ids=["refused", "invalid-uri"]
)
def test_connect_failure_is_reported_without_traceback(uri: str) -> None:
    with cli("connect", uri) as client:
        client.close_stdin()
        assert client.wait() == 1
        stderr = client.stderr()
        assert "Traceback" not in stderr
        assert uri in stderr


def test_usage_error() -> None:
    with cli() as process:
        assert process.wait() == 2
        assert "usage:" in process.stderr()
