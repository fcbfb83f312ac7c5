"""Tests for sansio.server: the server side of the opening handshake (RFC 6455 §4.2)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest

from websockets_sync.exceptions import (
    AbortHandshake,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidOrigin,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
)
from websockets_sync.sansio.headers import Headers
from websockets_sync.sansio.http11 import Request, Response, ResponseParser, accept_key
from websockets_sync.sansio.server import SERVER, ServerHandshake
from websockets_sync.version import version

from .handshake_fakes import FakeExtension, FakeServerFactory

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def make_request(*extra: tuple[str, str], remove: Sequence[str] = ()) -> Request:
    """A valid request, without the headers in ``remove``, with ``extra`` headers."""
    headers = Headers(
        [
            ("Host", "server.example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    for name in remove:
        del headers[name]
    headers.update(extra)
    return Request("/chat", headers)


def parse(response: Response) -> Response:
    """Serialize and parse back, to check that a response is valid on the wire."""
    parser = ResponseParser()
    parsed = parser.feed(response.serialize())
    if parsed is None:
        parsed = parser.feed_eof()
    assert parsed is not None
    return parsed


def test_server_header() -> None:
    assert (
        f"Python/{sys.version_info.major}.{sys.version_info.minor} websockets_sync/{version}"
        == SERVER
    )


# Receiving the request


def test_receive_data_and_leftover() -> None:
    server = ServerHandshake()
    assert server.receive_data(REQUEST[:20]) is None
    assert server.leftover == b""
    request = server.receive_data(REQUEST[20:] + b"\x81\x80abcd")
    assert request is not None
    assert request.path == "/chat"
    assert server.leftover == b"\x81\x80abcd"
    server.receive_eof()


def test_receive_data_byte_at_a_time() -> None:
    server = ServerHandshake()
    requests = [r for i in range(len(REQUEST)) if (r := server.receive_data(REQUEST[i : i + 1]))]
    assert len(requests) == 1


def test_receive_eof_before_the_request() -> None:
    server = ServerHandshake()
    server.receive_data(REQUEST[:20])
    with pytest.raises(InvalidMessage, match="connection closed before the request was complete"):
        server.receive_eof()


def test_request_limits_are_applied() -> None:
    with pytest.raises(SecurityError, match="too many HTTP headers"):
        ServerHandshake(max_num_headers=3).receive_data(REQUEST)
    with pytest.raises(SecurityError, match="line too long"):
        ServerHandshake(max_line_length=30).receive_data(REQUEST)


# accept: the response (RFC 6455 §4.2.2)


def test_rfc_6455_example() -> None:
    server = ServerHandshake(subprotocols=["chat"], server_header=None)
    request = server.receive_data(REQUEST)
    assert request is not None
    response = server.accept(request)
    assert response.serialize() == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"\r\n"
    )
    assert server.request is request
    assert server.subprotocol == "chat"
    assert server.extensions == []


def test_accept_minimal() -> None:
    server = ServerHandshake()
    response = server.accept(make_request())
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    assert response.body == b""
    assert list(response.headers.raw_items()) == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
        ("Server", SERVER),
    ]
    assert server.subprotocol is None


def test_accept_custom_server_header() -> None:
    response = ServerHandshake(server_header="MyServer").accept(make_request())
    assert response.headers["Server"] == "MyServer"


@pytest.mark.parametrize(
    "extra_headers",
    [
        {"X-A": "1", "X-B": "2"},
        [("X-A", "1"), ("X-B", "2")],
        Headers([("X-A", "1"), ("X-B", "2")]),
    ],
)
def test_accept_extra_headers(extra_headers: object) -> None:
    server = ServerHandshake(extra_headers=extra_headers)  # type: ignore[arg-type]
    response = server.accept(make_request())
    assert list(response.headers.raw_items())[3:] == [
        ("X-A", "1"),
        ("X-B", "2"),
        ("Server", SERVER),
    ]


def test_accept_extra_headers_callable() -> None:
    seen: list[tuple[str, Headers]] = []

    def extra_headers(path: str, headers: Headers) -> list[tuple[str, str]]:
        seen.append((path, headers))
        return [("X-Path", path)]

    request = make_request()
    response = ServerHandshake(extra_headers=extra_headers).accept(request)
    assert seen == [("/chat", request.headers)]
    assert response.headers["X-Path"] == "/chat"


def test_accept_server_header_from_extra_headers_wins() -> None:
    response = ServerHandshake(extra_headers={"Server": "Custom"}).accept(make_request())
    assert response.headers.get_all("Server") == ["Custom"]


# accept: every check on the request (RFC 6455 §4.2.1)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "example.com:8000",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:8765",
        "xn--bcher-kva.example",
    ],
)
def test_host_accepted(host: str) -> None:
    ServerHandshake().accept(make_request(("Host", host), remove=["Host"]))


def test_host_missing() -> None:
    with pytest.raises(InvalidHeader) as raised:
        ServerHandshake().accept(make_request(remove=["Host"]))
    assert str(raised.value) == "missing Host header"


def test_host_repeated() -> None:
    with pytest.raises(InvalidHeader, match="multiple values"):
        ServerHandshake().accept(make_request(("Host", "other.example.com")))


@pytest.mark.parametrize("host", ["", "a b", "a/b", "a:b:c", "[::1", "user@host"])
def test_host_invalid(host: str) -> None:
    with pytest.raises(InvalidHeaderValue):
        ServerHandshake().accept(make_request(("Host", host), remove=["Host"]))


@pytest.mark.parametrize(
    "upgrade", ["websocket", "WebSocket", "WEBSOCKET", "h2c, websocket", "websocket, foo/2"]
)
def test_upgrade_accepted(upgrade: str) -> None:
    ServerHandshake().accept(make_request(("Upgrade", upgrade), remove=["Upgrade"]))


@pytest.mark.parametrize("upgrade", [None, "h2c", "websocket/13", "web-socket"])
def test_upgrade_invalid(upgrade: str | None) -> None:
    extra = [] if upgrade is None else [("Upgrade", upgrade)]
    with pytest.raises(InvalidUpgrade) as raised:
        ServerHandshake().accept(make_request(*extra, remove=["Upgrade"]))
    assert raised.value.name == "Upgrade"
    assert raised.value.value == upgrade


def test_upgrade_non_ascii_refused() -> None:
    # KELVIN SIGN lower-cases to "k", but RFC 6455 asks for an ASCII match.
    request = make_request(("Upgrade", "websoc\u212aet"), remove=["Upgrade"])
    with pytest.raises(InvalidHeaderFormat):
        ServerHandshake().accept(request)


@pytest.mark.parametrize(
    "connection", ["Upgrade", "upgrade", "UPGRADE", "keep-alive, Upgrade", "Upgrade, close"]
)
def test_connection_accepted(connection: str) -> None:
    ServerHandshake().accept(make_request(("Connection", connection), remove=["Connection"]))


@pytest.mark.parametrize("connection", [None, "keep-alive", "close", "websocket"])
def test_connection_invalid(connection: str | None) -> None:
    extra = [] if connection is None else [("Connection", connection)]
    with pytest.raises(InvalidUpgrade) as raised:
        ServerHandshake().accept(make_request(*extra, remove=["Connection"]))
    assert raised.value.name == "Connection"


def test_connection_malformed() -> None:
    with pytest.raises(InvalidHeaderFormat):
        ServerHandshake().accept(make_request(("Connection", "Up grade"), remove=["Connection"]))


@pytest.mark.parametrize("key", [KEY, "AAAAAAAAAAAAAAAAAAAAAA==", "++++//////++++0123456z=="])
def test_key_valid(key: str) -> None:
    request = make_request(("Sec-WebSocket-Key", key), remove=["Sec-WebSocket-Key"])
    response = ServerHandshake().accept(request)
    assert response.headers["Sec-WebSocket-Accept"] == accept_key(key)


def test_key_missing() -> None:
    with pytest.raises(InvalidHeader) as raised:
        ServerHandshake().accept(make_request(remove=["Sec-WebSocket-Key"]))
    assert str(raised.value) == "missing Sec-WebSocket-Key header"


def test_key_repeated() -> None:
    with pytest.raises(InvalidHeader, match="multiple values"):
        ServerHandshake().accept(make_request(("Sec-WebSocket-Key", KEY)))


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not base64!",
        "dGhlIHNhbXBsZSBub25jZQ",  # missing padding
        "dGhlIHNhbXBsZSBub25j",  # 15 bytes
        "dGhlIHNhbXBsZSBub25jZQ==AA==",
        "dGhlIHNhbXBsZSBub25jZQAA",  # 17 bytes
        "dGhlIHNhbXBsZSBub25jZQ== ",
        "dGhlIHNhbXBsZSBub25jZ===",
        "dGhlIHNhbXBsZS-ub25jZQ==",  # URL-safe alphabet
        "dGhlIHNhbXBsZSBub25jZ\u0661==",  # a digit, but not ASCII
    ],
)
def test_key_invalid(key: str) -> None:
    with pytest.raises(InvalidHeaderValue) as raised:
        ServerHandshake().accept(
            make_request(("Sec-WebSocket-Key", key), remove=["Sec-WebSocket-Key"])
        )
    assert raised.value.name == "Sec-WebSocket-Key"


def test_version_missing() -> None:
    with pytest.raises(InvalidHeader) as raised:
        ServerHandshake().accept(make_request(remove=["Sec-WebSocket-Version"]))
    assert raised.value.name == "Sec-WebSocket-Version"


def test_version_repeated() -> None:
    with pytest.raises(InvalidHeader, match="multiple values"):
        ServerHandshake().accept(make_request(("Sec-WebSocket-Version", "13")))


@pytest.mark.parametrize("version_value", ["8", "12", "14", "13, 8", "013"])
def test_version_unsupported(version_value: str) -> None:
    request = make_request(
        ("Sec-WebSocket-Version", version_value), remove=["Sec-WebSocket-Version"]
    )
    with pytest.raises(InvalidHeaderValue) as raised:
        ServerHandshake().accept(request)
    assert raised.value.name == "Sec-WebSocket-Version"


def test_version_checked_before_key() -> None:
    # An old-draft client sends no Sec-WebSocket-Key: tell it the version.
    request = make_request(
        ("Sec-WebSocket-Version", "8"), remove=["Sec-WebSocket-Version", "Sec-WebSocket-Key"]
    )
    with pytest.raises(InvalidHeader) as raised:
        ServerHandshake().accept(request)
    assert raised.value.name == "Sec-WebSocket-Version"


def test_origin_not_checked_by_default() -> None:
    ServerHandshake().accept(make_request(("Origin", "https://evil.example")))
    ServerHandshake().accept(make_request(("Origin", "a"), ("Origin", "b")))


def test_origin_allowed() -> None:
    server = ServerHandshake(origins=["https://a.example", "https://b.example"])
    server.accept(make_request(("Origin", "https://b.example")))


@pytest.mark.parametrize("origin", ["https://evil.example", "https://A.example", "null"])
def test_origin_forbidden(origin: str) -> None:
    server = ServerHandshake(origins=["https://a.example"])
    with pytest.raises(InvalidOrigin) as raised:
        server.accept(make_request(("Origin", origin)))
    assert raised.value.value == origin


def test_origin_missing_forbidden() -> None:
    with pytest.raises(InvalidOrigin) as raised:
        ServerHandshake(origins=["https://a.example"]).accept(make_request())
    assert raised.value.value is None


def test_origin_missing_allowed_by_none() -> None:
    server = ServerHandshake(origins=["https://a.example", None])
    server.accept(make_request())
    with pytest.raises(InvalidOrigin):
        server.accept(make_request(("Origin", "https://b.example")))


def test_origin_repeated() -> None:
    server = ServerHandshake(origins=["https://a.example"])
    with pytest.raises(InvalidHeader, match="multiple values"):
        server.accept(
            make_request(("Origin", "https://a.example"), ("Origin", "https://a.example"))
        )


def test_failed_accept_leaves_state_unchanged() -> None:
    server = ServerHandshake(subprotocols=["chat"], origins=["https://a.example"])
    with pytest.raises(InvalidOrigin):
        server.accept(make_request(("Sec-WebSocket-Protocol", "chat")))
    assert server.request is None
    assert server.subprotocol is None
    assert server.extensions == []


# accept: extensions (RFC 6455 §9.1)


def test_extension_accepted() -> None:
    factory = FakeServerFactory("x-a", [("q", "2")])
    server = ServerHandshake(extensions=[factory])
    response = server.accept(make_request(("Sec-WebSocket-Extensions", "x-a; p=1")))
    assert response.headers["Sec-WebSocket-Extensions"] == "x-a; q=2"
    assert server.extensions == [FakeExtension("x-a", [("p", "1")])]
    assert factory.calls == [([("p", "1")], [])]


def test_extension_not_offered() -> None:
    server = ServerHandshake(extensions=[FakeServerFactory("x-a")])
    response = server.accept(make_request())
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


def test_extension_not_supported() -> None:
    server = ServerHandshake()
    response = server.accept(make_request(("Sec-WebSocket-Extensions", "x-a")))
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


def test_extension_declined_then_fallback_offer_accepted() -> None:
    factory = FakeServerFactory("x-a")
    server = ServerHandshake(extensions=[factory])
    server.accept(make_request(("Sec-WebSocket-Extensions", "x-a; reject, x-a; p")))
    assert server.extensions == [FakeExtension("x-a", [("p", None)])]
    assert len(factory.calls) == 2


def test_extension_all_offers_declined() -> None:
    server = ServerHandshake(extensions=[FakeServerFactory("x-a")])
    response = server.accept(make_request(("Sec-WebSocket-Extensions", "x-a; reject")))
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


def test_extension_second_offer_of_accepted_name_skipped() -> None:
    factory = FakeServerFactory("x-a")
    server = ServerHandshake(extensions=[factory])
    response = server.accept(
        make_request(
            ("Sec-WebSocket-Extensions", "x-a; p=1"),
            ("Sec-WebSocket-Extensions", "x-a; p=2"),
        )
    )
    assert response.headers["Sec-WebSocket-Extensions"] == "x-a"
    assert server.extensions == [FakeExtension("x-a", [("p", "1")])]
    assert len(factory.calls) == 1


def test_extension_next_server_factory_of_same_name() -> None:
    class Picky(FakeServerFactory):
        def process_request_params(self, params, accepted_extensions):  # type: ignore[no-untyped-def]
            self.calls.append((list(params), list(accepted_extensions)))
            raise NegotiationError("picky")

    picky = Picky("x-a")
    other = FakeServerFactory("x-b")
    fallback = FakeServerFactory("x-a", [("fallback", None)])
    server = ServerHandshake(extensions=[picky, other, fallback])
    response = server.accept(make_request(("Sec-WebSocket-Extensions", "x-a")))
    assert response.headers["Sec-WebSocket-Extensions"] == "x-a; fallback"
    assert len(picky.calls) == 1
    assert other.calls == []


def test_extensions_in_client_order_with_accepted_so_far() -> None:
    a = FakeServerFactory("x-a")
    b = FakeServerFactory("x-b")
    server = ServerHandshake(extensions=[a, b])
    response = server.accept(make_request(("Sec-WebSocket-Extensions", "x-b, x-c, x-a")))
    assert response.headers["Sec-WebSocket-Extensions"] == "x-b, x-a"
    assert server.extensions == [FakeExtension("x-b", []), FakeExtension("x-a", [])]
    assert a.calls == [([], [FakeExtension("x-b", [])])]


def test_extension_header_malformed() -> None:
    server = ServerHandshake(extensions=[FakeServerFactory("x-a")])
    with pytest.raises(InvalidHeaderFormat):
        server.accept(make_request(("Sec-WebSocket-Extensions", "x-a; p=")))


# accept: subprotocol (RFC 6455 §4.2.2)


@pytest.mark.parametrize(
    ("client", "server", "expected"),
    [
        (["chat", "superchat"], ["superchat", "chat"], "superchat"),
        (["chat", "superchat"], ["chat", "superchat"], "chat"),
        (["chat"], ["superchat"], None),
        ([], ["chat"], None),
        (["chat"], [], None),
    ],
)
def test_subprotocol_default_selection(
    client: list[str], server: list[str], expected: str | None
) -> None:
    extra = [("Sec-WebSocket-Protocol", ", ".join(client))] if client else []
    handshake = ServerHandshake(subprotocols=server)
    response = handshake.accept(make_request(*extra))
    assert handshake.subprotocol == expected
    assert response.headers.get("Sec-WebSocket-Protocol") == expected


def test_subprotocol_over_several_headers() -> None:
    server = ServerHandshake(subprotocols=["superchat"])
    server.accept(
        make_request(("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat"))
    )
    assert server.subprotocol == "superchat"


def test_subprotocol_custom_selection() -> None:
    calls: list[tuple[Sequence[str], Sequence[str]]] = []

    def select(client: Sequence[str], server: Sequence[str]) -> str | None:
        calls.append((client, server))
        return client[-1]

    handshake = ServerHandshake(subprotocols=["chat"])
    response = handshake.accept(make_request(("Sec-WebSocket-Protocol", "chat, superchat")), select)
    assert calls == [(["chat", "superchat"], ["chat"])]
    assert handshake.subprotocol == "superchat"
    assert response.headers["Sec-WebSocket-Protocol"] == "superchat"


def test_subprotocol_custom_selection_none() -> None:
    handshake = ServerHandshake(subprotocols=["chat"])
    response = handshake.accept(
        make_request(("Sec-WebSocket-Protocol", "chat")), lambda client, server: None
    )
    assert handshake.subprotocol is None
    assert "Sec-WebSocket-Protocol" not in response.headers


def test_subprotocol_custom_selection_not_offered() -> None:
    handshake = ServerHandshake()
    with pytest.raises(ValueError, match="wasn't offered"):
        handshake.accept(make_request(("Sec-WebSocket-Protocol", "chat")), lambda c, s: "other")


def test_subprotocol_header_malformed() -> None:
    with pytest.raises(InvalidHeaderFormat):
        ServerHandshake(subprotocols=["chat"]).accept(
            make_request(("Sec-WebSocket-Protocol", "a b"))
        )


@pytest.mark.parametrize(("subprotocols", "exc_type"), [("chat", TypeError), (["a b"], ValueError)])
def test_invalid_subprotocols(subprotocols: list[str], exc_type: type[Exception]) -> None:
    with pytest.raises(exc_type):
        ServerHandshake(subprotocols=subprotocols)


# reject


def test_reject_with_text_body() -> None:
    response = parse(ServerHandshake().reject(404, "nothing here"))
    assert response.status_code == 404
    assert response.reason_phrase == "Not Found"
    assert response.body == b"nothing here"
    assert list(response.headers.raw_items()) == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", "12"),
        ("Connection", "close"),
        ("Server", SERVER),
    ]


def test_reject_encodes_text_as_utf8() -> None:
    response = ServerHandshake().reject(403, "non, café")
    assert response.body == "non, café".encode()
    assert response.headers["Content-Length"] == str(len(response.body))


def test_reject_with_bytes_body() -> None:
    response = parse(ServerHandshake(server_header=None).reject(200, b"OK\n"))
    assert response.reason_phrase == "OK"
    assert list(response.headers.raw_items()) == [("Content-Length", "3"), ("Connection", "close")]


def test_reject_without_body() -> None:
    response = parse(ServerHandshake().reject(503))
    assert response.body == b""
    assert response.headers["Content-Length"] == "0"


def test_reject_with_headers() -> None:
    response = ServerHandshake().reject(
        401,
        "auth",
        {"WWW-Authenticate": 'Basic realm="x"', "Content-Type": "text/x", "Content-Length": "99"},
    )
    assert response.headers["WWW-Authenticate"] == 'Basic realm="x"'
    assert response.headers["Content-Type"] == "text/x"
    assert response.headers.get_all("Content-Length") == ["4"]


def test_reject_keeps_connection_and_server_headers() -> None:
    response = ServerHandshake().reject(200, b"", [("Connection", "keep-alive"), ("Server", "X")])
    assert response.headers.get_all("Connection") == ["keep-alive"]
    assert response.headers.get_all("Server") == ["X"]


def test_reject_unknown_status() -> None:
    response = parse(ServerHandshake().reject(599))
    assert response.status_code == 599
    assert response.reason_phrase == ""


@pytest.mark.parametrize("status", [0, 99, 600, 1000])
def test_reject_invalid_status(status: int) -> None:
    with pytest.raises(ValueError, match="invalid HTTP status code"):
        ServerHandshake().reject(status)


# reject_for


def exception_from_accept(request: Request, **kwargs: object) -> Exception:
    with pytest.raises(Exception) as raised:
        ServerHandshake(**kwargs).accept(request)  # type: ignore[arg-type]
    assert isinstance(raised.value, Exception)
    return raised.value


@pytest.mark.parametrize(
    "request_",
    [
        make_request(remove=["Upgrade"]),
        make_request(("Connection", "close"), remove=["Connection"]),
    ],
)
def test_reject_for_invalid_upgrade(request_: Request) -> None:
    response = parse(ServerHandshake().reject_for(exception_from_accept(request_)))
    assert response.status_code == 426
    assert response.reason_phrase == "Upgrade Required"
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade, close"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.body.startswith(b"Failed to open a WebSocket connection: ")


@pytest.mark.parametrize(
    "request_",
    [
        make_request(remove=["Sec-WebSocket-Version"]),
        make_request(("Sec-WebSocket-Version", "13")),
        make_request(("Sec-WebSocket-Version", "8"), remove=["Sec-WebSocket-Version"]),
    ],
)
def test_reject_for_version(request_: Request) -> None:
    response = parse(ServerHandshake().reject_for(exception_from_accept(request_)))
    assert response.status_code == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"
    assert response.headers["Upgrade"] == "websocket"
    assert b"Sec-WebSocket-Version" in response.body


def test_reject_for_invalid_origin() -> None:
    exc = exception_from_accept(make_request(("Origin", "https://evil")), origins=["https://a"])
    response = parse(ServerHandshake().reject_for(exc))
    assert response.status_code == 403
    assert (
        response.body
        == b"Failed to open a WebSocket connection: invalid Origin header: https://evil.\n"
    )
    assert response.headers["Connection"] == "close"


@pytest.mark.parametrize(
    "request_",
    [
        make_request(remove=["Host"]),
        make_request(("Host", "a b"), remove=["Host"]),
        make_request(remove=["Sec-WebSocket-Key"]),
        make_request(("Sec-WebSocket-Key", "abc"), remove=["Sec-WebSocket-Key"]),
        make_request(("Sec-WebSocket-Extensions", ";")),
        make_request(("Sec-WebSocket-Protocol", ",")),
        make_request(("Origin", "a"), ("Origin", "b")),
    ],
)
def test_reject_for_bad_request(request_: Request) -> None:
    exc = exception_from_accept(request_, origins=["a", None])
    assert isinstance(exc, InvalidHandshake)
    response = parse(ServerHandshake().reject_for(exc))
    assert response.status_code == 400
    assert response.reason_phrase == "Bad Request"


@pytest.mark.parametrize(
    "data",
    [
        b"POST / HTTP/1.1\r\n",
        b"GET / HTTP/1.0\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
        b"\x16\x03\x01",
    ],
)
def test_reject_for_invalid_message(data: bytes) -> None:
    server = ServerHandshake()
    with pytest.raises(InvalidMessage) as raised:
        server.receive_data(data)
    response = parse(server.reject_for(raised.value))
    assert response.status_code == 400


def test_reject_for_security_error() -> None:
    # RFC 6585 §5: 431 Request Header Fields Too Large.
    server = ServerHandshake(max_num_headers=2)
    with pytest.raises(SecurityError) as raised:
        server.receive_data(REQUEST)
    response = parse(server.reject_for(raised.value))
    assert response.status_code == 431
    assert response.reason_phrase == "Request Header Fields Too Large"


def test_reject_for_negotiation_error() -> None:
    response = ServerHandshake().reject_for(NegotiationError("no common ground"))
    assert response.status_code == 400
    assert b"no common ground" in response.body


def test_reject_for_abort_handshake() -> None:
    exc = AbortHandshake(401, Headers([("WWW-Authenticate", "Basic")]), b"who are you?")
    response = parse(ServerHandshake().reject_for(exc))
    assert response.status_code == 401
    assert response.body == b"who are you?"
    assert response.headers["WWW-Authenticate"] == "Basic"
    assert response.headers["Content-Length"] == "12"
    assert "Content-Type" not in response.headers


def test_reject_for_abort_handshake_without_headers() -> None:
    response = ServerHandshake().reject_for(AbortHandshake(204))
    assert response.status_code == 204
    assert response.body == b""


@pytest.mark.parametrize("exc", [RuntimeError("secret detail"), ValueError("wasn't offered")])
def test_reject_for_other_exceptions_hides_details(exc: Exception) -> None:
    response = parse(ServerHandshake().reject_for(exc))
    assert response.status_code == 500
    assert response.reason_phrase == "Internal Server Error"
    assert str(exc).encode() not in response.body
    assert response.body.startswith(b"Failed to open a WebSocket connection.")
