"""External peers run as subprocesses: Node scripts, nginx and Chromium.

Each runs in a process group of its own, killed as a whole (children included)
when its context manager exits, whatever happened in the test.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from .helpers import SECONDS

__all__ = [
    "CHROMIUM_FLAGS",
    "JS_DIR",
    "NODE_CACHE",
    "NodeScript",
    "chromium_running",
    "find_chromium",
    "find_nginx",
    "free_port",
    "install_node_ws",
    "log_tail",
    "nginx_proxy",
    "spawned",
]

REPO = Path(__file__).resolve().parents[2]
#: Where `ws` is installed, by the node_modules fixture and by .ci/run (gitignored).
NODE_CACHE = REPO / ".cache" / "node"
JS_DIR = Path(__file__).resolve().parent / "js"

# Grace period between SIGTERM and SIGKILL.
_STOP_GRACE = 3.0


def log_tail(path: Path, lines: int = 25) -> str:
    """The end of a log file, for failure messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<{path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (for programs that need a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of ``proc``, then SIGKILL what is left of it."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(_STOP_GRACE)
    # Children (Chromium's renderers, ...) may outlive the leader.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with suppress(OSError):
                stream.close()


@contextmanager
def spawned(args: Sequence[str], *, log: Path, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` in a new session, stderr to ``log``; kill its process group on exit."""
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(args, stderr=stderr, start_new_session=True, **popen)
    try:
        yield proc
    finally:
        _stop(proc)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}:\n{log_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on {port}:\n{log_tail(log)}") from None
            time.sleep(0.02)
        else:
            return


# Node and its `ws` package.


def install_node_ws() -> str | None:
    """Install `ws` 8 into NODE_CACHE unless it is there; return why it failed, if it did."""
    if (NODE_CACHE / "node_modules" / "ws" / "package.json").exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed: cannot install the Node `ws` package"
    command = [npm, "install", "--prefix", str(NODE_CACHE)]
    command += ["--no-audit", "--no-fund", "--no-package-lock", "ws@8"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        return "npm install ws@8 timed out"
    if done.returncode != 0:
        return f"npm install ws@8 failed: {done.stderr.decode(errors='replace')[-2000:]}"
    return None


class NodeScript:
    """A script of js/ run by Node: JSON commands on its stdin, JSON events on its stdout.

    Events that name a ``path`` (one per connection on a server) are queued per
    path; the others under ``""``.
    """

    def __init__(self, node: str, script: str, *args: str, log: Path) -> None:
        env = {**os.environ, "NODE_PATH": str(NODE_CACHE / "node_modules")}
        self._log = log
        self._cm = spawned(
            [node, str(JS_DIR / script), *args],
            log=log,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._proc = self._cm.__enter__()
        # Protects _queues and _eof.
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._eof = False
        self._reader = threading.Thread(target=self._read, name=f"test-node-{script}", daemon=True)
        self._reader.start()

    def command(self, **command: Any) -> None:
        """Send one command to the script."""
        stdin: IO[bytes] | None = self._proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(command).encode() + b"\n")
        stdin.flush()

    def next_event(self, path: str = "", timeout: float = 10 * SECONDS) -> dict[str, Any]:
        """The next event for ``path``, whatever its kind."""
        try:
            return self._queue(path).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event from Node:\n{log_tail(self._log)}") from None

    def event(self, expected: str, path: str = "", timeout: float = 10 * SECONDS) -> dict[str, Any]:
        """The next event for ``path``, which must be of kind ``expected``."""
        event = self.next_event(path, timeout)
        if event["event"] != expected:
            details = json.dumps(event)[:500]
            raise AssertionError(
                f"expected {expected!r} from Node, got {details}:\n{log_tail(self._log)}"
            )
        return event

    def close(self) -> None:
        """Kill the script (and anything it started)."""
        self._cm.__exit__(None, None, None)
        self._reader.join(5)

    def __enter__(self) -> NodeScript:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _queue(self, path: str) -> queue.Queue[dict[str, Any]]:
        with self._lock:
            if path not in self._queues:
                self._queues[path] = queue.Queue()
                if self._eof:
                    self._queues[path].put({"event": "exit"})
            return self._queues[path]

    def _read(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        with suppress(ValueError, OSError):  # closed by close()
            for line in stdout:
                event = json.loads(line)
                self._queue(event.get("path", "")).put(event)
        with self._lock:
            self._eof = True
            for events in self._queues.values():
                events.put({"event": "exit"})


# nginx.


def find_nginx() -> str | None:
    """nginx on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH)."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


_NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{
    worker_connections 256;
}}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""

# The usual configuration for proxying WebSocket (https://nginx.org/en/docs/http/websocket.html).
_NGINX_LOCATION = """\
        location {prefix} {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_read_timeout 60s;
        }}
"""


@contextmanager
def nginx_proxy(nginx: str, routes: dict[str, int], tmp: Path) -> Iterator[int]:
    """Run nginx on 127.0.0.1, proxying each location prefix to a port of 127.0.0.1.

    Yields nginx's port; nginx is killed on exit.
    """
    locations = "".join(
        _NGINX_LOCATION.format(prefix=prefix, upstream=upstream)
        for prefix, upstream in routes.items()
    )
    conf, log, stderr = tmp / "nginx.conf", tmp / "error.log", tmp / "nginx.stderr"
    for attempt in range(3):
        # The port was free a moment ago; someone may have taken it since.
        port = free_port()
        conf.write_text(_NGINX_CONF.format(tmp=tmp, port=port, locations=locations))
        command = [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(log)]
        with spawned(command, log=stderr, stdin=subprocess.DEVNULL) as proc:
            try:
                _wait_listening(port, proc, log, 10 * SECONDS)
            except AssertionError:
                if attempt < 2 and "Address already in use" in log_tail(log):
                    continue
                raise
            yield port
            return


# Chromium.


def find_chromium() -> str | None:
    """Debian's chromium (or another distribution's name for it) on PATH."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found is not None:
            return found
    return None


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # needed as root, e.g. in a CI container
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
]


@contextmanager
def chromium_running(chromium: str, url: str, tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Headless Chromium on ``url`` with a throwaway profile; killed on exit.

    Its crashpad handlers run in sessions of their own, out of reach of the
    group kill, but they exit by themselves when Chromium is gone.
    """
    args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", url]
    with spawned(
        args, log=tmp / "chromium.log", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    ) as proc:
        yield proc
