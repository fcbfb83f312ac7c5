"""Through a real reverse proxy: Debian's nginx in front of our server.

nginx runs as a subprocess with a temporary configuration, the usual one for
WebSocket (``proxy_http_version 1.1`` and the Upgrade and Connection headers).
Our client, then headless Chromium, reach our server through it: the message
matrix, permessage-deflate end to end, and close codes and reasons carried
both ways. Each test waits until nginx has closed its connections to our server.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from websockets_sync import ConnectionClosedError, connect

from .browser import (
    BrowserChecks,
    BrowserRun,
    PageServer,
    our_servers,
    page_config,
    run_browser,
)
from .helpers import (
    ALL_MESSAGES,
    COMPRESSIBLE,
    FRAGMENTS_BINARY,
    FRAGMENTS_TEXT,
    MAX_SIZE,
    SECONDS,
    OurServer,
    ServerSide,
    WireBytes,
    assert_compressed,
    assert_released,
    check_deflate,
    snapshot,
    wire_bytes,
)
from .processes import nginx_proxy


@contextmanager
def proxy(nginx: str, tmp: Path) -> Iterator[tuple[int, dict[str, OurServer], PageServer]]:
    """The page's servers (see browser.our_servers) and a page server behind nginx.

    nginx routes each path prefix to its server, the rest to the page server.
    """
    with our_servers() as servers, PageServer() as page:
        routes = {prefix: server.port for prefix, server in servers.items()}
        with nginx_proxy(nginx, {**routes, "/": page.port}, tmp) as port:
            yield port, servers, page


# Our client through nginx.


@dataclass
class Proxied:
    port: int
    ours: OurServer
    plain: OurServer


@pytest.fixture(scope="module")
def proxied(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    with proxy(nginx, tmp_path_factory.mktemp("nginx")) as (port, servers, _):
        yield Proxied(port, servers["/ws/"], servers["/plain/"])


@contextmanager
def our_client(proxied: Proxied, prefix: str = "/ws/") -> Iterator[tuple[Any, ServerSide]]:
    """Our client through nginx, on a path of its own; yields it and our server's side."""
    server = proxied.ours if prefix == "/ws/" else proxied.plain
    path = f"{prefix}{uuid.uuid4()}"
    with connect(f"ws://127.0.0.1:{proxied.port}{path}", max_size=MAX_SIZE) as client:
        side = server.side_for(path)
        # The request went through nginx.
        assert side.request_headers.get("X-Forwarded-For") == "127.0.0.1"
        yield client, side
    client.wait_closed(5 * SECONDS)
    # nginx closes its connection to our server when ours closes: don't let it outlive the test.
    server.wait_idle()


@pytest.mark.parametrize("message", ALL_MESSAGES.values(), ids=ALL_MESSAGES.keys())
def test_messages(proxied: Proxied, message: str | bytes) -> None:
    with our_client(proxied) as (client, _):
        client.send(message)
        received = client.recv(timeout=10 * SECONDS)
        assert received == message and type(received) is type(message)


def test_fragmented(proxied: Proxied) -> None:
    with our_client(proxied) as (client, _):
        client.send(["our ", "", "frag", "ments ✓"])
        assert client.recv(timeout=10 * SECONDS) == "our fragments ✓"
        client.send([b"\x00", b"", b"\xff"])
        assert client.recv(timeout=10 * SECONDS) == b"\x00\xff"
        client.send("fragments?")
        assert client.recv(timeout=10 * SECONDS) == "".join(FRAGMENTS_TEXT)
        assert client.recv(timeout=10 * SECONDS) == b"".join(FRAGMENTS_BINARY)


def exchange_compressible(client: Any) -> tuple[WireBytes, WireBytes]:
    """Echo COMPRESSIBLE; return the wire bytes on both hops: client-nginx, nginx-server."""
    client.send("wire?")
    server_before = WireBytes(**json.loads(client.recv(timeout=10 * SECONDS)))
    client_before = wire_bytes(client.socket)
    client.send(COMPRESSIBLE)
    assert client.recv(timeout=10 * SECONDS) == COMPRESSIBLE
    client_delta = wire_bytes(client.socket) - client_before
    client.send("wire?")
    server_delta = WireBytes(**json.loads(client.recv(timeout=10 * SECONDS))) - server_before
    return client_delta, server_delta


def test_compression_end_to_end(proxied: Proxied) -> None:
    """nginx passes the negotiation through and relays compressed frames as they are."""
    with our_client(proxied) as (client, side):
        offered, accepted = side.extensions()
        check_deflate(offered)
        check_deflate(accepted)
        assert client.response_headers.get("Sec-WebSocket-Extensions") == accepted
        client_delta, server_delta = exchange_compressible(client)
        assert_compressed(client_delta)
        assert_compressed(server_delta)


def test_compression_declined(proxied: Proxied) -> None:
    with our_client(proxied, "/plain/") as (client, side):
        offered, accepted = side.extensions()
        check_deflate(offered)
        assert accepted is None
        assert client.response_headers.get("Sec-WebSocket-Extensions") is None
        client_delta, server_delta = exchange_compressible(client)
        assert_compressed(client_delta, compressed=False)
        assert_compressed(server_delta, compressed=False)


def test_ping_pong(proxied: Proxied) -> None:
    with our_client(proxied) as (client, _):
        assert client.ping(b"through nginx").wait(timeout=10 * SECONDS) >= 0


def test_client_closes(proxied: Proxied) -> None:
    """Our client's code and reason reach our server, and its echo comes back."""
    with our_client(proxied) as (client, side):
        client.close(4000, "client bye ✓")
        assert (client.close_code, client.close_reason) == (4000, "client bye ✓")
        assert side.close_seen() == (4000, "client bye ✓")


def test_server_closes(proxied: Proxied) -> None:
    """Our server's code and reason reach our client, after the message sent before."""
    with our_client(proxied) as (client, side):
        client.send("close 4001 server bye")
        assert client.recv(timeout=10 * SECONDS) == "closing 4001"
        with pytest.raises(ConnectionClosedError) as info:
            client.recv(timeout=10 * SECONDS)
        assert (info.value.code, info.value.reason) == (4001, "server bye")
        assert side.close_seen() == (4001, "server bye")


# Chromium through nginx: the page and its WebSockets are all served by nginx.


@pytest.fixture(scope="module")
def browser_run(nginx: str, chromium: str, tmp_path_factory: pytest.TempPathFactory) -> BrowserRun:
    before = snapshot()
    tmp = tmp_path_factory.mktemp("nginx-chromium")
    with proxy(nginx, tmp) as (port, servers, page):
        page.config = page_config(dict.fromkeys(servers, f"ws://127.0.0.1:{port}"))
        run = run_browser(chromium, f"http://127.0.0.1:{port}/", page, servers, tmp)
    # The autouse leak check doesn't cover module-scoped fixtures.
    assert_released(before)
    return run


# The first test's setup runs the browser: allow more than the default 60 s.
@pytest.mark.timeout(120 * SECONDS)
class TestChromiumThroughNginx(BrowserChecks):
    def test_through_nginx(self, browser_run: BrowserRun) -> None:
        for name in ("main", "serverClose", "plain", "limit"):
            assert browser_run.side(name).request_headers.get("X-Forwarded-For") == "127.0.0.1"
