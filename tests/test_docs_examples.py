"""Every program in docs/examples runs, as the documentation pages show it.

Each file runs in a subprocess with a timeout. Servers take their port from
the ``PORT`` environment variable and run until terminated; this module talks
to them with the sync client. Clients run against the matching server example.
Scripts run on their own, on port 0.
"""

from __future__ import annotations

import http
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from websockets_sync import ConnectionClosedError, ConnectionClosedOK, InvalidStatusCode, connect

from .asyncio.utils import (
    REPO_ROOT,
    free_port,
    python_interpreters,
    script,
    wait_listening,
)
from .utils import MS, HTTPReply, read_until_eof

EXAMPLES = REPO_ROOT / "docs" / "examples"
# Time for an example to start, or to run to completion: generous, for loaded machines.
TIMEOUT = 30_000 * MS


def example(name: str) -> str:
    return str(EXAMPLES / name)


@contextmanager
def running_server(name: str, python: str) -> Iterator[int]:
    """Run a server example on a free port until the end of the block; yield the port."""
    port = free_port()
    with script([example(name)], python, env={"PORT": str(port)}) as process:
        wait_listening(process, port, TIMEOUT)
        yield port
        assert process.poll() is None, f"{name} must serve until terminated"
        process.terminate()
        _, stderr = process.communicate(timeout=TIMEOUT)
    assert "Traceback" not in stderr, stderr


def run_to_completion(
    name: str, python: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    with script([example(name)], python, env) as process:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# How to check each server example, given its port.


def check_echo(port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/") as websocket:
        websocket.send("Hello")
        assert websocket.recv(timeout=5) == "Hello"
        websocket.send(b"\x00\x01")
        assert websocket.recv(timeout=5) == b"\x00\x01"


def check_chat_and_clock(port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/chat") as alice:
        with connect(f"ws://127.0.0.1:{port}/chat") as bob:
            time.sleep(0.1)  # both handlers joined the room
            alice.send("hi everyone")
            assert alice.recv(timeout=5) == "hi everyone"
            assert bob.recv(timeout=5) == "hi everyone"
    with connect(f"ws://127.0.0.1:{port}/clock") as websocket:
        assert websocket.recv(timeout=5) == "tick 1"
        assert websocket.recv(timeout=5) == "tick 2"
    with connect(f"ws://127.0.0.1:{port}/elsewhere") as websocket:
        with pytest.raises(ConnectionClosedError) as raised:
            websocket.recv(timeout=5)
        assert raised.value.code == 1008


def check_token_server(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reply = HTTPReply(read_until_eof(sock))
    assert reply.status == http.HTTPStatus.OK
    assert reply.body == b"OK\n"
    with pytest.raises(InvalidStatusCode) as raised:
        connect(f"ws://127.0.0.1:{port}/")
    assert raised.value.status_code == 401
    with connect(
        f"ws://127.0.0.1:{port}/",
        extra_headers={"Authorization": "Bearer secret"},
        subprotocols=["chat.v1", "chat.v2"],
    ) as websocket:
        assert websocket.subprotocol == "chat.v2"
        assert websocket.recv(timeout=5) == "welcome! we speak chat.v2"
        websocket.send("echo?")
        assert websocket.recv(timeout=5) == "echo?"


def check_prefix(prefix: str) -> Callable[[int], None]:
    def check(port: int) -> None:
        with connect(f"ws://127.0.0.1:{port}/") as websocket:
            websocket.send("hi")
            assert websocket.recv(timeout=5) == f"{prefix}: hi"
            websocket.close()
        with pytest.raises(ConnectionClosedOK):
            websocket.recv()

    return check


SERVERS: dict[str, Callable[[int], None]] = {
    "asyncio_echo_server.py": check_echo,
    "cheatsheet_server.py": check_chat_and_clock,
    "cheatsheet_server_protocol.py": check_token_server,
    "cheatsheet_extra_arguments.py": check_prefix("spam"),
    "cheatsheet_extra_arguments_closure.py": check_prefix("eggs"),
    "cheatsheet_classic_loop.py": check_prefix("spam"),
}

# Client example: (server example it talks to, expected output, as regular expressions).
CLIENTS: dict[str, tuple[str, list[str]]] = {
    "asyncio_hello_client.py": ("asyncio_echo_server.py", ["Hello world!"]),
    "cheatsheet_client.py": (
        "cheatsheet_server.py",
        [
            "Hello, room!",
            r"latency: \d+\.\d{6} s",
            "tick 1",
            "tick 2",
            "closed with code 1000",
        ],
    ),
    "cheatsheet_client_protocol.py": (
        "cheatsheet_server_protocol.py",
        ["without a token: HTTP 401", "welcome! we speak chat.v2", "Hi!"],
    ),
}

# Standalone script: (expected stdout, regular expressions that stderr must match).
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "asyncio_one_file.py": (
        [
            "/greeter says hi",
            "/greeter says fragments",
            r"latency: \d+\.\d{6} s",
            "closed with code 1000",
        ],
        [],
    ),
    "compression_settings.py": (
        [
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10",
            "5000",
            "None",
        ],
        [],
    ),
    "cheatsheet_logging.py": (
        ["the server closed the connection with code 1011"],
        [
            r"server listening on 127\.0\.0\.1:\d+",
            r"\[\w+\] connection handler failed\nTraceback \(most recent call last\):",
            r"RuntimeError: something went wrong",
        ],
    ),
}


def assert_lines_match(output: str, patterns: list[str]) -> None:
    lines = output.splitlines()
    assert len(lines) == len(patterns), output
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_every_example_is_tested() -> None:
    names = {path.name for path in Path(EXAMPLES).glob("*.py")}
    assert names == set(SERVERS) | set(CLIENTS) | set(SCRIPTS)


def test_pages_show_every_example_but_its_first_two_lines() -> None:
    """The pages include ``:lines: 3-``: that skips the __future__ import and a blank line."""
    for path in Path(EXAMPLES).glob("*.py"):
        assert path.read_text().startswith("from __future__ import annotations\n\nimport ")
    pages = "".join(
        (REPO_ROOT / "docs" / page).read_text()
        for page in ["intro/asyncio.rst", "howto/cheatsheet.rst", "topics/compression.rst"]
    )
    included = re.findall(r"\.\. literalinclude:: \.\./examples/(\S+)\n   :lines: 3-\n", pages)
    assert len(included) == pages.count("literalinclude::")
    assert set(included) == {path.name for path in Path(EXAMPLES).glob("*.py")}


@pytest.mark.parametrize("python", python_interpreters())
@pytest.mark.parametrize("name", sorted(SERVERS))
def test_server_example(name: str, python: str) -> None:
    with running_server(name, python) as port:
        SERVERS[name](port)


@pytest.mark.parametrize("python", python_interpreters())
@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_client_example(name: str, python: str) -> None:
    server, expected = CLIENTS[name]
    with running_server(server, python) as port:
        result = run_to_completion(name, python, env={"PORT": str(port)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert_lines_match(result.stdout, expected)


@pytest.mark.parametrize("python", python_interpreters())
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_example(name: str, python: str) -> None:
    stdout_patterns, stderr_patterns = SCRIPTS[name]
    result = run_to_completion(name, python)
    assert result.returncode == 0, result.stderr
    assert_lines_match(result.stdout, stdout_patterns)
    for pattern in stderr_patterns:
        assert re.search(pattern, result.stderr), (pattern, result.stderr)
    if not stderr_patterns:
        assert result.stderr == ""
