"""Headless Chromium against our server: the page, its HTTP server, the checks.

The test serves js/page.html over plain HTTP; its script opens WebSockets to
our servers, runs the message matrix (text, binary, empty, fragmented by us,
1 MiB, compressed), closes both ways, and POSTs a JSON report to /report.
test_chromium.py runs it directly, test_nginx.py through nginx.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    FRAGMENTS_BINARY,
    FRAGMENTS_TEXT,
    SECONDS,
    OurServer,
    ServerSide,
    WireBytes,
    assert_compressed,
)
from .processes import JS_DIR, chromium_running, log_tail

__all__ = [
    "BROWSER_MESSAGES",
    "BrowserChecks",
    "BrowserRun",
    "PageServer",
    "our_servers",
    "page_config",
    "run_browser",
]

#: Paths of the page's WebSockets, so that a proxy can route them by prefix.
PATHS = {
    "main": "/ws/main",
    "serverClose": "/ws/server-close",
    "plain": "/plain/main",
    "limit": "/limit/main",
}
#: The page's message cases, each an echo (or "fragments?") checked by the page itself.
BROWSER_MESSAGES = [
    "text",
    "binary",
    "empty-text",
    "empty-binary",
    "fragmented",
    "1mib-binary",
    "1mib-text",
]


class PageServer:
    """HTTP on 127.0.0.1: js/page.html with ``config`` at /, reports POSTed to /report.

    HTTP/1.0, so every connection closes after one response.
    """

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.reports: queue.Queue[dict[str, Any]] = queue.Queue()
        page_server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/":
                    self.send_error(404)
                    return
                config = json.dumps(page_server.config).replace("</", "<\\/")
                page = (JS_DIR / "page.html").read_text().replace("__CONFIG__", config)
                self._reply(200, "text/html; charset=utf-8", page.encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/report":
                    self.send_error(404)
                    return
                page_server.reports.put(json.loads(body))
                self._reply(204, "text/plain", b"")

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="test-page-server")
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def page_config(bases: dict[str, str]) -> dict[str, Any]:
    """The page's CONFIG: WebSocket URLs, and what "fragments?" returns.

    ``bases`` gives the ws:// base URI for each prefix of PATHS: "/ws/" (our
    server), "/plain/" (compression=None) and "/limit/" (default limits).
    """
    urls = {}
    for name, path in PATHS.items():
        prefix = path[: path.index("/", 1) + 1]
        urls[name] = bases[prefix] + path
    return {
        "urls": urls,
        "fragmentsText": "".join(FRAGMENTS_TEXT),
        "fragmentsBinary": b"".join(FRAGMENTS_BINARY).hex(),
        "caseTimeout": 15_000 * SECONDS,
    }


@contextmanager
def our_servers() -> Iterator[dict[str, OurServer]]:
    """The servers the page talks to, by path prefix (see :func:`page_config`)."""
    with (
        OurServer() as ours,
        OurServer(compression=None) as plain,
        OurServer(default_limits=True) as limit,
    ):
        yield {"/ws/": ours, "/plain/": plain, "/limit/": limit}


@dataclass
class BrowserRun:
    """The page's report, and what our servers saw of each connection, by path."""

    report: dict[str, Any]
    sides: dict[str, ServerSide]

    def side(self, name: str) -> ServerSide:
        """Our side of the page's connection ``name`` (a key of PATHS)."""
        side = self.sides.get(PATHS[name])
        assert side is not None, f"no connection to {PATHS[name]} reached our server"
        return side

    def wire(self, name: str) -> WireBytes:
        """Our server's wire bytes over the page's exchange of COMPRESSIBLE."""
        wire = self.report["wire"][name]
        return WireBytes(**wire["after"]) - WireBytes(**wire["before"])


def run_browser(
    chromium: str, url: str, page: PageServer, servers: dict[str, OurServer], tmp: Path
) -> BrowserRun:
    """Load ``url`` in headless Chromium, wait for the report, kill Chromium.

    Returns once our servers have no connection left.
    """
    deadline = time.monotonic() + 45 * SECONDS
    with chromium_running(chromium, url, tmp) as proc:
        while True:
            try:
                report = page.reports.get(timeout=0.1)
                break
            except queue.Empty:
                pass
            if proc.poll() is not None and page.reports.empty():
                raise AssertionError(
                    f"chromium exited with {proc.returncode}:\n{log_tail(tmp / 'chromium.log')}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no report from the page:\n{log_tail(tmp / 'chromium.log')}")
    sides: dict[str, ServerSide] = {}
    for server in servers.values():
        server.wait_idle()
        while True:
            try:
                side = server.next_side(timeout=0)
            except AssertionError:
                break
            sides[side.path] = side
    return BrowserRun(report, sides)


def _check_deflate(value: str | None) -> None:
    assert value is not None and value.startswith("permessage-deflate"), value


class BrowserChecks:
    """The checks of a browser run; subclasses provide a ``browser_run`` fixture."""

    def test_page_ran(self, browser_run: BrowserRun) -> None:
        assert browser_run.report["errors"] == []

    @pytest.mark.parametrize("case", BROWSER_MESSAGES)
    def test_messages(self, browser_run: BrowserRun, case: str) -> None:
        result = browser_run.report["cases"].get(case)
        assert result is not None, f"{case} didn't run: {browser_run.report['errors']}"
        assert result["ok"], result["detail"]

    def test_one_mib_at_default_max_size(self, browser_run: BrowserRun) -> None:
        """Exactly 1 MiB of random bytes, compressed by Chromium, to our server's defaults."""
        result = browser_run.report["cases"]["1mib-default-max-size"]
        assert result["ok"], result["detail"]

    def test_compression_negotiated(self, browser_run: BrowserRun) -> None:
        """Chromium offers permessage-deflate, we accept it, Chromium agrees."""
        offered, accepted = browser_run.side("main").extensions()
        _check_deflate(offered)
        _check_deflate(accepted)
        _check_deflate(browser_run.report["extensions"]["main"])

    def test_compression_used_both_ways(self, browser_run: BrowserRun) -> None:
        assert browser_run.report["cases"]["compressed"]["ok"]
        assert_compressed(browser_run.wire("main"))

    def test_compression_declined(self, browser_run: BrowserRun) -> None:
        """Our server with compression=None declines Chromium's offer: nothing compressed."""
        assert browser_run.report["cases"]["uncompressed"]["ok"]
        offered, accepted = browser_run.side("plain").extensions()
        _check_deflate(offered)
        assert accepted is None
        assert browser_run.report["extensions"]["plain"] == ""
        assert_compressed(browser_run.wire("plain"), compressed=False)
        close = browser_run.report["closes"]["plain"]
        assert close == {"code": 1000, "reason": "", "wasClean": True}

    def test_browser_closes(self, browser_run: BrowserRun) -> None:
        assert browser_run.report["cases"]["browser-close"]["ok"]
        assert browser_run.side("main").close_seen() == (4000, "browser bye ✓")
        close = browser_run.report["closes"]["browser"]
        assert close == {"code": 4000, "reason": "browser bye ✓", "wasClean": True}  # our echo

    def test_server_closes(self, browser_run: BrowserRun) -> None:
        """The message before our Close arrives; Chromium sees our code and reason."""
        assert browser_run.report["cases"]["server-close"]["ok"]
        close = browser_run.report["closes"]["server"]
        assert close == {"code": 4001, "reason": "server bye", "wasClean": True}
        assert browser_run.side("serverClose").close_seen() == (4001, "server bye")
