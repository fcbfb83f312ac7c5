"""Tests for websockets_sync.sansio.uri: parsing WebSocket URIs and building Host headers."""

from __future__ import annotations

import pytest

from websockets_sync.exceptions import InvalidURI
from websockets_sync.sansio.uri import WebSocketURI, build_host, parse_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/", "")),
        ("wss://localhost/", WebSocketURI(True, "localhost", 443, "/", "")),
        ("ws://localhost", WebSocketURI(False, "localhost", 80, "", "")),
        ("ws://localhost:8765/chat", WebSocketURI(False, "localhost", 8765, "/chat", "")),
        ("wss://localhost:443/", WebSocketURI(True, "localhost", 443, "/", "")),
        ("ws://localhost:/", WebSocketURI(False, "localhost", 80, "/", "")),
        ("ws://localhost/path?query", WebSocketURI(False, "localhost", 80, "/path", "query")),
        ("ws://localhost?a=1&b=2", WebSocketURI(False, "localhost", 80, "", "a=1&b=2")),
        ("ws://localhost/?a=/b?c", WebSocketURI(False, "localhost", 80, "/", "a=/b?c")),
        ("WS://LocalHost/Path", WebSocketURI(False, "localhost", 80, "/Path", "")),
        ("ws://127.0.0.1:8000/", WebSocketURI(False, "127.0.0.1", 8000, "/", "")),
        ("ws://[::1]:8765/x", WebSocketURI(False, "::1", 8765, "/x", "")),
        ("wss://[2001:db8::7]/", WebSocketURI(True, "2001:db8::7", 443, "/", "")),
        ("ws://[::ffff:1.2.3.4]/", WebSocketURI(False, "::ffff:1.2.3.4", 80, "/", "")),
        (
            "ws://user:pass@localhost/",
            WebSocketURI(False, "localhost", 80, "/", "", "user", "pass"),
        ),
        ("ws://user:@[::1]/", WebSocketURI(False, "::1", 80, "/", "", "user", "")),
        (
            "ws://us%3Aer:p%40ss%C3%A9@localhost/",
            WebSocketURI(False, "localhost", 80, "/", "", "us:er", "p@ssé"),
        ),
        # Existing escapes are kept; other characters are percent-encoded as UTF-8.
        ("ws://localhost/a%20b", WebSocketURI(False, "localhost", 80, "/a%20b", "")),
        ("ws://localhost/é?q=ü", WebSocketURI(False, "localhost", 80, "/%C3%A9", "q=%C3%BC")),
        ("ws://localhost/a b?c d", WebSocketURI(False, "localhost", 80, "/a%20b", "c%20d")),
        (
            "ws://localhost/~:@!$&'()*+,;=-._",
            WebSocketURI(False, "localhost", 80, "/~:@!$&'()*+,;=-._", ""),
        ),
        # IDNA for international host names.
        ("ws://bücher.example/", WebSocketURI(False, "xn--bcher-kva.example", 80, "/", "")),
    ],
)
def test_parse_uri(uri: str, expected: WebSocketURI) -> None:
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("http://localhost/", "scheme"),
        ("https://localhost/", "scheme"),
        ("localhost/", "scheme"),
        ("ws:/path", "missing host"),
        ("ws:///path", "missing host"),
        ("ws://user:pass@/", "missing host"),
        ("ws://localhost/#fragment", "fragment"),
        ("ws://localhost/#", "fragment"),
        ("ws://localhost:99999/", "isn't a valid URI"),
        ("ws://localhost:-1/", "isn't a valid URI"),
        ("ws://localhost:http/", "isn't a valid URI"),
        ("ws://localhost:0/", "port 0"),
        ("ws://[::1/", "isn't a valid URI"),
        ("ws://[v1.fe]/", "invalid IPv6 address"),
        ("ws://local host/", "invalid host"),
        ('ws://local"host/', "invalid host"),
        ("ws://user@localhost/", "username provided without password"),
        ("ws://\u2100/", "isn't a valid URI"),
        ("ws://a\u00ad\u0300b\u0300\u0301" + "x" * 64 + "/", "invalid international host name"),
    ],
)
def test_parse_uri_invalid(uri: str, match: str) -> None:
    with pytest.raises(InvalidURI, match=match) as raised:
        parse_uri(uri)
    assert raised.value.uri == uri


@pytest.mark.parametrize(
    ("uri", "resource_name"),
    [
        ("ws://localhost", "/"),
        ("ws://localhost/", "/"),
        ("ws://localhost?q", "/?q"),
        ("ws://localhost/a/b?c=d", "/a/b?c=d"),
        ("ws://localhost/a?", "/a"),
    ],
)
def test_resource_name(uri: str, resource_name: str) -> None:
    assert parse_uri(uri).resource_name == resource_name


def test_user_info() -> None:
    assert parse_uri("ws://localhost/").user_info is None
    assert parse_uri("ws://u:p@localhost/").user_info == ("u", "p")
    assert WebSocketURI(False, "h", 80, "", "", username="u").user_info == ("u", "")


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [
        ("localhost", 80, False, "localhost"),
        ("localhost", 443, True, "localhost"),
        ("localhost", 443, False, "localhost:443"),
        ("localhost", 80, True, "localhost:80"),
        ("localhost", 8765, False, "localhost:8765"),
        ("127.0.0.1", 8765, True, "127.0.0.1:8765"),
        ("::1", 80, False, "[::1]"),
        ("::1", 8765, False, "[::1]:8765"),
        ("2001:db8::7", 443, True, "[2001:db8::7]"),
    ],
)
def test_build_host(host: str, port: int, secure: bool, expected: str) -> None:
    assert build_host(host, port, secure) == expected


def test_build_host_round_trip() -> None:
    wsuri = parse_uri("ws://[::1]:8765/")
    assert build_host(wsuri.host, wsuri.port, wsuri.secure) == "[::1]:8765"
