"""Tests for sansio.client: the client side of the opening handshake (RFC 6455 §4.1)."""

from __future__ import annotations

import base64
import sys

import pytest

from websockets_sync.exceptions import (
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatusCode,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
)
from websockets_sync.sansio.client import USER_AGENT, ClientHandshake
from websockets_sync.sansio.headers import Headers
from websockets_sync.sansio.http11 import Response, accept_key
from websockets_sync.sansio.server import ServerHandshake
from websockets_sync.sansio.uri import parse_uri
from websockets_sync.version import version

from .handshake_fakes import FakeClientFactory, FakeExtension, FakeServerFactory

URI = parse_uri("ws://example.com/chat?room=1")


def make_response(client: ClientHandshake, *extra: tuple[str, str]) -> Response:
    """A valid 101 response for ``client``, with extra headers."""
    headers = Headers(
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(client.key)),
        ]
    )
    headers.update(extra)
    return Response(101, "Switching Protocols", headers)


def without(response: Response, name: str) -> Response:
    del response.headers[name]
    return response


# The request: what the client MUST send (RFC 6455 §4.1)


def test_user_agent() -> None:
    assert (
        f"Python/{sys.version_info.major}.{sys.version_info.minor} websockets_sync/{version}"
    ) == USER_AGENT


def test_request_line_uses_resource_name() -> None:
    # RFC 6455 §4.1 item 2: "/resource name/", "/" when the path is empty.
    assert ClientHandshake(URI).request().path == "/chat?room=1"
    assert ClientHandshake(parse_uri("ws://example.com")).request().path == "/"


def test_request_headers() -> None:
    client = ClientHandshake(URI)
    request = client.request()
    assert list(request.headers.raw_items()) == [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", client.key),
        ("Sec-WebSocket-Version", "13"),
        ("User-Agent", USER_AGENT),
    ]


def test_request_serialize() -> None:
    client = ClientHandshake(URI, user_agent_header=None)
    assert client.request().serialize() == (
        b"GET /chat?room=1 HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + client.key.encode() + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("ws://example.com:8765/", "example.com:8765"),
        ("wss://example.com/", "example.com"),
        ("wss://example.com:80/", "example.com:80"),
        ("ws://[::1]:8765/", "[::1]:8765"),
        ("ws://[::1]/", "[::1]"),
    ],
)
def test_request_host(uri: str, host: str) -> None:
    # RFC 6455 §4.1 item 4: Host with the port when it isn't the default.
    assert ClientHandshake(parse_uri(uri)).request().headers["Host"] == host


def test_key_is_16_random_bytes_in_base64() -> None:
    # RFC 6455 §4.1 item 7: "a randomly selected 16-byte value", new for each connection.
    client = ClientHandshake(URI)
    assert len(base64.b64decode(client.key, validate=True)) == 16
    assert ClientHandshake(URI).key != client.key
    assert client.request().headers["Sec-WebSocket-Key"] == client.key
    # The same key on every call.
    assert client.request().headers["Sec-WebSocket-Key"] == client.key


def test_request_origin() -> None:
    # RFC 6455 §4.1 item 8.
    request = ClientHandshake(URI, origin="https://example.com").request()
    assert request.headers["Origin"] == "https://example.com"
    assert "Origin" not in ClientHandshake(URI).request().headers


def test_request_extensions() -> None:
    factories = [
        FakeClientFactory("x-a", [("p", None), ("q", "1")]),
        FakeClientFactory("x-b"),
    ]
    request = ClientHandshake(URI, extensions=factories).request()
    assert request.headers["Sec-WebSocket-Extensions"] == "x-a; p; q=1, x-b"


def test_request_without_extensions() -> None:
    assert "Sec-WebSocket-Extensions" not in ClientHandshake(URI, extensions=[]).request().headers


def test_request_subprotocols() -> None:
    request = ClientHandshake(URI, subprotocols=["chat", "superchat"]).request()
    assert request.headers["Sec-WebSocket-Protocol"] == "chat, superchat"
    assert "Sec-WebSocket-Protocol" not in ClientHandshake(URI, subprotocols=[]).request().headers


@pytest.mark.parametrize(
    ("subprotocols", "exc_type"), [("chat", TypeError), (["chat room"], ValueError)]
)
def test_invalid_subprotocols(subprotocols: list[str], exc_type: type[Exception]) -> None:
    with pytest.raises(exc_type):
        ClientHandshake(URI, subprotocols=subprotocols)


@pytest.mark.parametrize(
    "extra_headers",
    [
        {"X-Token": "abc", "X-Other": "1"},
        [("X-Token", "abc"), ("X-Other", "1")],
        Headers([("X-Token", "abc"), ("X-Other", "1")]),
    ],
)
def test_request_extra_headers(extra_headers: object) -> None:
    request = ClientHandshake(URI, extra_headers=extra_headers).request()  # type: ignore[arg-type]
    items = list(request.headers.raw_items())
    assert items[5:] == [("X-Token", "abc"), ("X-Other", "1"), ("User-Agent", USER_AGENT)]


def test_request_user_agent() -> None:
    request = ClientHandshake(URI, user_agent_header="MyClient/1.0").request()
    assert request.headers["User-Agent"] == "MyClient/1.0"
    assert "User-Agent" not in ClientHandshake(URI, user_agent_header=None).request().headers


def test_request_user_agent_from_extra_headers_wins() -> None:
    request = ClientHandshake(URI, extra_headers={"user-agent": "Custom"}).request()
    assert request.headers.get_all("User-Agent") == ["Custom"]


def test_request_basic_auth_from_uri() -> None:
    request = ClientHandshake(parse_uri("ws://Aladdin:open%20sesame@example.com/")).request()
    assert request.headers["Authorization"] == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert request.headers["Host"] == "example.com"
    assert "Authorization" not in ClientHandshake(URI).request().headers


def test_request_authorization_from_extra_headers_wins() -> None:
    client = ClientHandshake(
        parse_uri("ws://user:pass@example.com/"),
        extra_headers={"Authorization": "Bearer token"},
    )
    assert client.request().headers.get_all("Authorization") == ["Bearer token"]


def test_request_basic_auth_username_with_colon() -> None:
    client = ClientHandshake(parse_uri("ws://a%3Ab:pass@example.com/"))
    with pytest.raises(ValueError, match="colon"):
        client.request()


# Receiving the response


def test_receive_data_and_leftover() -> None:
    client = ClientHandshake(URI)
    data = make_response(client).serialize()
    assert client.receive_data(data[:10]) is None
    assert client.leftover == b""
    response = client.receive_data(data[10:] + b"\x81\x00")
    assert response is not None
    assert response.status_code == 101
    assert client.leftover == b"\x81\x00"
    assert client.receive_eof() is None


def test_receive_eof_completes_an_error_response() -> None:
    client = ClientHandshake(URI)
    assert client.receive_data(b"HTTP/1.1 503 Unavailable\r\n\r\nbusy") is None
    response = client.receive_eof()
    assert response is not None
    assert response.body == b"busy"


def test_receive_eof_before_the_response() -> None:
    client = ClientHandshake(URI)
    with pytest.raises(InvalidMessage):
        client.receive_eof()


def test_response_limits_are_applied() -> None:
    client = ClientHandshake(URI, max_num_headers=1, max_line_length=100)
    with pytest.raises(SecurityError, match="too many HTTP headers"):
        client.receive_data(b"HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\n\r\n")
    client = ClientHandshake(URI, max_line_length=20)
    with pytest.raises(SecurityError, match="line too long"):
        client.receive_data(b"HTTP/1.1 101 Switching Protocols")


# process_response: every check RFC 6455 §4.1 requires


def test_valid_response() -> None:
    client = ClientHandshake(URI)
    client.process_response(make_response(client))
    assert client.subprotocol is None
    assert client.extensions == []


def test_rfc_6455_example_response() -> None:
    client = ClientHandshake(URI)
    client.key = "dGhlIHNhbXBsZSBub25jZQ=="
    response = client.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"\r\n"
    )
    assert response is not None
    client.available_subprotocols = ["superchat", "chat"]
    client.process_response(response)
    assert client.subprotocol == "chat"


@pytest.mark.parametrize("status_code", [200, 301, 400, 403, 426, 500])
def test_status_other_than_101(status_code: int) -> None:
    # RFC 6455 §4.1: not 101 → handled per HTTP, i.e. the handshake fails.
    client = ClientHandshake(URI)
    headers = Headers([("Content-Length", "4")])
    with pytest.raises(InvalidStatusCode) as raised:
        client.process_response(Response(status_code, "X", headers, b"nope"))
    assert raised.value.status_code == status_code
    assert raised.value.headers is headers
    assert raised.value.body == b"nope"


@pytest.mark.parametrize(
    "value", ["Upgrade", "upgrade", "UPGRADE", "keep-alive, Upgrade", ", upgrade"]
)
def test_connection_accepted(value: str) -> None:
    client = ClientHandshake(URI)
    response = without(make_response(client), "Connection")
    response.headers["Connection"] = value
    client.process_response(response)


def test_connection_split_over_two_headers() -> None:
    client = ClientHandshake(URI)
    response = without(make_response(client), "Connection")
    response.headers["Connection"] = "keep-alive"
    response.headers["Connection"] = "Upgrade"
    client.process_response(response)


def test_connection_missing() -> None:
    client = ClientHandshake(URI)
    with pytest.raises(InvalidUpgrade) as raised:
        client.process_response(without(make_response(client), "Connection"))
    assert raised.value.name == "Connection"
    assert raised.value.value is None


@pytest.mark.parametrize("value", ["keep-alive", "close", "Upgraded", "websocket"])
def test_connection_without_upgrade(value: str) -> None:
    client = ClientHandshake(URI)
    response = without(make_response(client), "Connection")
    response.headers["Connection"] = value
    with pytest.raises(InvalidUpgrade) as raised:
        client.process_response(response)
    assert raised.value.name == "Connection"
    assert raised.value.value == value


def test_connection_malformed() -> None:
    client = ClientHandshake(URI)
    response = without(make_response(client), "Connection")
    response.headers["Connection"] = "Up grade"
    with pytest.raises(InvalidHeaderFormat):
        client.process_response(response)


@pytest.mark.parametrize("value", ["websocket", "WebSocket", "WEBSOCKET"])
def test_upgrade_accepted(value: str) -> None:
    client = ClientHandshake(URI)
    response = without(make_response(client), "Upgrade")
    response.headers["Upgrade"] = value
    client.process_response(response)


def test_upgrade_missing() -> None:
    client = ClientHandshake(URI)
    with pytest.raises(InvalidUpgrade) as raised:
        client.process_response(without(make_response(client), "Upgrade"))
    assert raised.value.name == "Upgrade"
    assert raised.value.value is None


@pytest.mark.parametrize("value", ["h2c", "websocket, h2c", "websocket/13", "ws"])
def test_upgrade_other_than_websocket(value: str) -> None:
    # RFC 6455 §4.1: fail if Upgrade "contains a value that is not an ASCII
    # case-insensitive match for the value 'websocket'".
    client = ClientHandshake(URI)
    response = without(make_response(client), "Upgrade")
    response.headers["Upgrade"] = value
    with pytest.raises(InvalidUpgrade) as raised:
        client.process_response(response)
    assert raised.value.name == "Upgrade"
    assert raised.value.value == value


def test_accept_missing() -> None:
    client = ClientHandshake(URI)
    with pytest.raises(InvalidHeader) as raised:
        client.process_response(without(make_response(client), "Sec-WebSocket-Accept"))
    assert str(raised.value) == "missing Sec-WebSocket-Accept header"


def test_accept_repeated() -> None:
    client = ClientHandshake(URI)
    response = make_response(client, ("Sec-WebSocket-Accept", accept_key(client.key)))
    with pytest.raises(InvalidHeader, match="multiple values"):
        client.process_response(response)


def test_accept_wrong() -> None:
    client = ClientHandshake(URI)
    response = without(make_response(client), "Sec-WebSocket-Accept")
    response.headers["Sec-WebSocket-Accept"] = accept_key(ClientHandshake(URI).key)
    with pytest.raises(InvalidHeaderValue) as raised:
        client.process_response(response)
    assert raised.value.name == "Sec-WebSocket-Accept"


def test_accept_is_case_sensitive() -> None:
    client = ClientHandshake(URI)
    client.key = "dGhlIHNhbXBsZSBub25jZQ=="
    response = without(make_response(client), "Sec-WebSocket-Accept")
    response.headers["Sec-WebSocket-Accept"] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".lower()
    with pytest.raises(InvalidHeaderValue):
        client.process_response(response)


# process_response: extensions (RFC 6455 §4.1 item 5, §9.1)


def test_extension_accepted() -> None:
    factory = FakeClientFactory("x-a")
    client = ClientHandshake(URI, extensions=[factory])
    client.process_response(make_response(client, ("Sec-WebSocket-Extensions", "x-a; p=1")))
    assert client.extensions == [FakeExtension("x-a", [("p", "1")])]
    assert factory.calls == [([("p", "1")], [])]


def test_extension_not_selected() -> None:
    client = ClientHandshake(URI, extensions=[FakeClientFactory("x-a")])
    client.process_response(make_response(client))
    assert client.extensions == []


def test_extension_not_offered() -> None:
    client = ClientHandshake(URI)
    with pytest.raises(NegotiationError, match="unsupported extension: x-a"):
        client.process_response(make_response(client, ("Sec-WebSocket-Extensions", "x-a")))


def test_extension_other_than_offered() -> None:
    client = ClientHandshake(URI, extensions=[FakeClientFactory("x-a")])
    with pytest.raises(NegotiationError, match="unsupported extension: x-b"):
        client.process_response(make_response(client, ("Sec-WebSocket-Extensions", "x-b")))


def test_extension_params_refused_by_factory() -> None:
    client = ClientHandshake(URI, extensions=[FakeClientFactory("x-a")])
    with pytest.raises(NegotiationError, match="unsupported extension"):
        client.process_response(make_response(client, ("Sec-WebSocket-Extensions", "x-a; reject")))


def test_extension_falls_back_to_next_factory_of_same_name() -> None:
    class Picky(FakeClientFactory):
        def process_response_params(self, params, accepted_extensions):  # type: ignore[no-untyped-def]
            self.calls.append((list(params), list(accepted_extensions)))
            raise NegotiationError("picky")

    picky = Picky("x-a")
    other = FakeClientFactory("x-b")
    fallback = FakeClientFactory("x-a")
    client = ClientHandshake(URI, extensions=[picky, other, fallback])
    client.process_response(make_response(client, ("Sec-WebSocket-Extensions", "x-a")))
    assert client.extensions == [FakeExtension("x-a", [])]
    assert len(picky.calls) == 1
    assert other.calls == []


def test_extensions_in_server_order_with_accepted_so_far() -> None:
    a = FakeClientFactory("x-a")
    b = FakeClientFactory("x-b")
    client = ClientHandshake(URI, extensions=[a, b])
    response = make_response(
        client,
        ("Sec-WebSocket-Extensions", "x-b"),
        ("Sec-WebSocket-Extensions", "x-a; q"),
    )
    client.process_response(response)
    assert client.extensions == [FakeExtension("x-b", []), FakeExtension("x-a", [("q", None)])]
    assert a.calls == [([("q", None)], [FakeExtension("x-b", [])])]


def test_extension_header_malformed() -> None:
    client = ClientHandshake(URI, extensions=[FakeClientFactory("x-a")])
    with pytest.raises(InvalidHeaderFormat):
        client.process_response(make_response(client, ("Sec-WebSocket-Extensions", "x-a;")))


# process_response: subprotocol (RFC 6455 §4.1 item 6)


def test_subprotocol_selected() -> None:
    client = ClientHandshake(URI, subprotocols=["chat", "superchat"])
    client.process_response(make_response(client, ("Sec-WebSocket-Protocol", "superchat")))
    assert client.subprotocol == "superchat"


def test_subprotocol_not_selected() -> None:
    client = ClientHandshake(URI, subprotocols=["chat"])
    client.process_response(make_response(client))
    assert client.subprotocol is None


def test_subprotocol_not_offered() -> None:
    client = ClientHandshake(URI)
    with pytest.raises(NegotiationError, match="unsupported subprotocol: chat"):
        client.process_response(make_response(client, ("Sec-WebSocket-Protocol", "chat")))


def test_subprotocol_other_than_offered() -> None:
    client = ClientHandshake(URI, subprotocols=["chat"])
    with pytest.raises(NegotiationError, match="unsupported subprotocol: Chat"):
        client.process_response(make_response(client, ("Sec-WebSocket-Protocol", "Chat")))


@pytest.mark.parametrize(
    "headers",
    [
        [("Sec-WebSocket-Protocol", "chat, superchat")],
        [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "chat")],
    ],
)
def test_subprotocol_multiple(headers: list[tuple[str, str]]) -> None:
    client = ClientHandshake(URI, subprotocols=["chat", "superchat"])
    with pytest.raises(InvalidHeader, match="multiple values"):
        client.process_response(make_response(client, *headers))


def test_subprotocol_malformed() -> None:
    client = ClientHandshake(URI, subprotocols=["chat"])
    with pytest.raises(InvalidHeaderFormat):
        client.process_response(make_response(client, ("Sec-WebSocket-Protocol", "chat;")))


def test_failed_negotiation_leaves_state_unchanged() -> None:
    client = ClientHandshake(URI, extensions=[FakeClientFactory("x-a")], subprotocols=["chat"])
    response = make_response(
        client,
        ("Sec-WebSocket-Extensions", "x-a"),
        ("Sec-WebSocket-Protocol", "other"),
    )
    with pytest.raises(NegotiationError):
        client.process_response(response)
    assert client.extensions == []
    assert client.subprotocol is None


# Both roles together


def test_handshake_with_server_handshake() -> None:
    client = ClientHandshake(
        URI,
        origin="https://example.com",
        extensions=[FakeClientFactory("x-a", [("p", "1")])],
        subprotocols=["chat", "superchat"],
    )
    server = ServerHandshake(
        origins=["https://example.com"],
        extensions=[FakeServerFactory("x-a", [("p", "2")])],
        subprotocols=["superchat"],
    )
    request = server.receive_data(client.request().serialize())
    assert request is not None
    response_bytes = server.accept(request).serialize()
    response = client.receive_data(response_bytes + b"\x81\x00")
    assert response is not None
    client.process_response(response)
    assert client.subprotocol == server.subprotocol == "superchat"
    assert client.extensions == [FakeExtension("x-a", [("p", "2")])]
    assert server.extensions == [FakeExtension("x-a", [("p", "1")])]
    assert client.leftover == b"\x81\x00"
