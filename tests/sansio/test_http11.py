"""Tests for websockets_sync.sansio.http11: handshake messages and their incremental parsers."""

from __future__ import annotations

import base64

import pytest

from websockets_sync.exceptions import InvalidMessage, SecurityError
from websockets_sync.sansio import http11
from websockets_sync.sansio.headers import Headers
from websockets_sync.sansio.http11 import (
    MAX_BODY_SIZE,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    accept_key,
    generate_key,
)

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

RESPONSE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)

# A text frame "Hi" from the peer, sent right after the head.
FRAME = b"\x81\x02Hi"


def feed_bytewise(parser: RequestParser | ResponseParser, data: bytes) -> list[object]:
    """Feed one byte at a time; return what each call returned that wasn't None."""
    return [result for i in range(len(data)) if (result := parser.feed(data[i : i + 1]))]


# Keys


def test_accept_key_matches_rfc_6455_example() -> None:
    # RFC 6455 §1.3.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_generate_key_is_16_random_bytes() -> None:
    key = generate_key()
    assert len(base64.b64decode(key, validate=True)) == 16
    assert generate_key() != key


# Request and Response


def test_request_serialize() -> None:
    request = Request("/chat?room=1", Headers([("Host", "server.example.com")]))
    assert request.serialize() == b"GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\n\r\n"


@pytest.mark.parametrize("path", ["", "chat", "/a b", "/a\r\nX: 1", "/é", "/#frag"])
def test_request_serialize_rejects_invalid_path(path: str) -> None:
    with pytest.raises(ValueError, match="invalid request path"):
        Request(path, Headers()).serialize()


def test_response_serialize() -> None:
    response = Response(404, "Not Found", Headers([("Content-Length", "2")]), b"no")
    assert response.serialize() == b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"


def test_response_serialize_empty_reason() -> None:
    assert Response(599, "", Headers()).serialize() == b"HTTP/1.1 599 \r\n\r\n"


@pytest.mark.parametrize(
    ("status_code", "reason"), [(99, "x"), (600, "x"), (1000, "x"), (200, "O\r\nK"), (200, "é")]
)
def test_response_serialize_rejects_invalid_status_line(status_code: int, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid status line"):
        Response(status_code, reason, Headers()).serialize()


def test_serialized_messages_parse_back() -> None:
    request = Request("/", Headers([("Host", "a"), ("X", "1"), ("x", "2")]))
    assert RequestParser().feed(request.serialize()) == request
    response = Response(200, "OK", Headers([("Content-Length", "3")]), b"abc")
    assert ResponseParser().feed(response.serialize()) == response


# RequestParser: complete requests


def test_request_in_one_piece() -> None:
    parser = RequestParser()
    request = parser.feed(REQUEST)
    assert request is not None
    assert request.path == "/chat?room=1"
    assert request.headers["host"] == "server.example.com"
    assert request.headers["Sec-WebSocket-Version"] == "13"
    assert parser.leftover == b""


def test_request_byte_at_a_time_keeps_leftover() -> None:
    parser = RequestParser()
    results = feed_bytewise(parser, REQUEST + FRAME)
    assert len(results) == 1
    assert parser.leftover == FRAME


def test_request_leftover_when_frames_arrive_with_the_head() -> None:
    parser = RequestParser()
    assert parser.feed(REQUEST[:10]) is None
    assert parser.leftover == b""
    assert parser.feed(REQUEST[10:] + FRAME) is not None
    assert parser.leftover == FRAME


def test_request_feed_after_completion_adds_to_leftover() -> None:
    parser = RequestParser()
    assert parser.feed(REQUEST + b"\x81") is not None
    assert parser.feed(b"\x02Hi") is None
    assert parser.leftover == FRAME
    parser.feed_eof()
    assert parser.leftover == FRAME


def test_request_header_values_are_stripped_of_ows() -> None:
    request = RequestParser().feed(
        b"GET / HTTP/1.1\r\nA:1\r\nB: \t2 \t\r\nC:\r\nD: a  b\r\nE:  \r\n\r\n"
    )
    assert request is not None
    assert list(request.headers.raw_items()) == [
        ("A", "1"),
        ("B", "2"),
        ("C", ""),
        ("D", "a  b"),
        ("E", ""),
    ]


def test_request_keeps_repeated_headers_in_order() -> None:
    request = RequestParser().feed(b"GET / HTTP/1.1\r\nX: 1\r\nY: 2\r\nx: 3\r\n\r\n")
    assert request is not None
    assert request.headers.get_all("X") == ["1", "3"]


@pytest.mark.parametrize("path", ["/", "/a/b?c=d&e=%20", "/?", "/~user;p=1@x!$'()*+,"])
def test_request_accepts_origin_form(path: str) -> None:
    request = RequestParser().feed(b"GET " + path.encode() + b" HTTP/1.1\r\n\r\n")
    assert request is not None
    assert request.path == path


def test_request_accepts_content_length_zero() -> None:
    request = RequestParser().feed(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert request is not None


# RequestParser: invalid requests


@pytest.mark.parametrize(
    "line",
    [
        b"POST / HTTP/1.1",
        b"get / HTTP/1.1",
        b"HEAD / HTTP/1.1",
        b"GET / HTTP/1.0",
        b"GET / HTTP/2.0",
        b"GET / http/1.1",
        b"GET /",
        b"GET / HTTP/1.1 ",
        b"GET  / HTTP/1.1",
        b"GET /  HTTP/1.1",
        b"GET /a b HTTP/1.1",
        b"GET http://example.com/ HTTP/1.1",
        b"GET * HTTP/1.1",
        b"GET /#fragment HTTP/1.1",
        b"GET /\xc3\xa9 HTTP/1.1",
        b"",
    ],
)
def test_request_rejects_invalid_request_line(line: bytes) -> None:
    with pytest.raises(InvalidMessage):
        RequestParser().feed(line + b"\r\n\r\n")


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS ClientHello
        b"P",
        b"GE\x00",
        b"SSH-2.0-OpenSSH_9.0",
        b"GET http",
    ],
)
def test_request_rejects_non_http_promptly(data: bytes) -> None:
    parser = RequestParser()
    with pytest.raises(InvalidMessage, match="did not receive a WebSocket GET request"):
        parser.feed(data)


def test_request_rejects_non_http_byte_at_a_time_at_first_wrong_byte() -> None:
    parser = RequestParser()
    assert parser.feed(b"G") is None
    assert parser.feed(b"E") is None
    with pytest.raises(InvalidMessage):
        parser.feed(b"X")


@pytest.mark.parametrize(
    ("header_line", "match"),
    [
        (b" folded", "obsolete line folding"),
        (b"\tfolded", "obsolete line folding"),
        (b"NoColon", "invalid HTTP header line"),
        (b"Name : value", "invalid HTTP header line"),
        (b": value", "invalid HTTP header line"),
        (b"Na(me: value", "invalid HTTP header line"),
        (b"N\xc3\xa4me: value", "invalid HTTP header line"),
        (b"Name: va\x00lue", "invalid HTTP header value"),
        (b"Name: va\rlue", "invalid HTTP header value"),
        (b"Name: caf\xc3\xa9", "invalid HTTP header value"),
        (b"Name: \x7f", "invalid HTTP header value"),
    ],
)
def test_request_rejects_invalid_header_line(header_line: bytes, match: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + header_line + b"\r\n\r\n"
    with pytest.raises(InvalidMessage, match=match):
        RequestParser().feed(data)


@pytest.mark.parametrize(
    "header_lines",
    [
        b"Host: a\r\n",
        b"Host:a\r\n",
        b"Host: \t a b \t \r\n",
        b"X-Empty:\r\nX-Blank: \t \r\nHost: a\r\n",
        b"X: 1\r\nx: 2\r\nX: 3\r\nHost: a\r\n",
        b"!#$%&'*+-.^_`|~09AZaz: ~ !\"#\r\n",
    ],
)
def test_request_headers_in_one_piece_parse_as_line_by_line(header_lines: bytes) -> None:
    data = b"GET / HTTP/1.1\r\n" + header_lines + b"\r\n" + FRAME
    whole = RequestParser()
    request = whole.feed(data)
    trickled = RequestParser()
    (same,) = feed_bytewise(trickled, data)
    assert isinstance(request, Request) and isinstance(same, Request)
    assert list(request.headers.raw_items()) == list(same.headers.raw_items())
    assert whole.leftover == trickled.leftover == FRAME


def test_request_head_in_one_piece_is_parsed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def one_line(line: bytes) -> tuple[str, str]:
        raise AssertionError("parsed line by line")

    monkeypatch.setattr(http11, "_parse_header_line", one_line)
    request = RequestParser().feed(REQUEST)
    assert isinstance(request, Request)
    assert request.headers["Sec-WebSocket-Key"] == "dGhlIHNhbXBsZSBub25jZQ=="
    assert len(list(request.headers.raw_items())) == 5


def test_request_rejects_obs_fold_after_a_header() -> None:
    with pytest.raises(InvalidMessage, match="obsolete line folding"):
        RequestParser().feed(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\n\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    ],
)
def test_request_rejects_bare_lf(data: bytes) -> None:
    with pytest.raises(InvalidMessage, match="line without CRLF"):
        RequestParser().feed(data)


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: 5",
        b"Content-Length: x",
        b"Content-Length: -0",
        b"Content-Length: " + b"9" * 100,
        b"Transfer-Encoding: chunked",
        b"transfer-encoding: identity",
    ],
)
def test_request_rejects_body(header: bytes) -> None:
    with pytest.raises(InvalidMessage):
        RequestParser().feed(b"GET / HTTP/1.1\r\n" + header + b"\r\n\r\n")


def test_request_rejects_a_second_nonzero_content_length() -> None:
    with pytest.raises(InvalidMessage, match="unexpected body"):
        RequestParser().feed(b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n")


# RequestParser: end of stream


@pytest.mark.parametrize("size", [0, 1, 10, len(REQUEST) - 1])
def test_request_eof_before_complete(size: int) -> None:
    parser = RequestParser()
    parser.feed(REQUEST[:size])
    with pytest.raises(InvalidMessage) as raised:
        parser.feed_eof()
    assert str(raised.value) == "connection closed before the request was complete"


def test_request_eof_after_complete_is_fine() -> None:
    parser = RequestParser()
    assert parser.feed(REQUEST) is not None
    parser.feed_eof()
    parser.feed_eof()


def test_request_feed_after_eof() -> None:
    parser = RequestParser()
    parser.feed(REQUEST)
    parser.feed_eof()
    with pytest.raises(InvalidMessage, match="after the end of the stream"):
        parser.feed(b"x")


def test_request_errors_are_sticky() -> None:
    parser = RequestParser()
    with pytest.raises(InvalidMessage) as first:
        parser.feed(b"POST / HTTP/1.1\r\n")
    with pytest.raises(InvalidMessage) as second:
        parser.feed(REQUEST)
    assert second.value is first.value
    with pytest.raises(InvalidMessage):
        parser.feed_eof()


def test_request_incomplete_error_is_sticky() -> None:
    parser = RequestParser()
    parser.feed(b"GET")
    with pytest.raises(InvalidMessage):
        parser.feed_eof()
    with pytest.raises(InvalidMessage, match="connection closed"):
        parser.feed_eof()


# RequestParser: limits


def test_request_max_num_headers() -> None:
    head = b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 3
    assert RequestParser(max_num_headers=3).feed(head + b"\r\n") is not None
    with pytest.raises(SecurityError, match="too many HTTP headers"):
        RequestParser(max_num_headers=2).feed(head + b"\r\n")


def test_request_max_num_headers_raised_before_the_head_ends() -> None:
    parser = RequestParser(max_num_headers=2)
    with pytest.raises(SecurityError):
        parser.feed(b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 3)


def test_request_default_max_num_headers_is_128() -> None:
    head = b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 128
    assert RequestParser().feed(head + b"\r\n") is not None
    with pytest.raises(SecurityError):
        RequestParser().feed(head + b"X: 1\r\n\r\n")


def test_request_no_limits() -> None:
    parser = RequestParser(max_num_headers=None, max_line_length=None)
    request = parser.feed(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 20_000 + b"\r\n" * 2)
    assert request is not None


def test_request_line_at_max_length_is_accepted() -> None:
    line = b"X: " + b"a" * 97  # 100 bytes
    parser = RequestParser(max_line_length=100)
    # The CR before the LF doesn't count, even when it arrives alone.
    assert parser.feed(b"GET / HTTP/1.1\r\n" + line + b"\r") is None
    assert parser.feed(b"\n\r\n") is not None


def test_request_line_too_long_before_crlf_arrives() -> None:
    parser = RequestParser(max_line_length=100)
    parser.feed(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 97)
    with pytest.raises(SecurityError, match="line too long"):
        parser.feed(b"a")


def test_request_line_too_long_with_a_cr_but_no_lf() -> None:
    parser = RequestParser(max_line_length=100)
    parser.feed(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 97 + b"\r")
    with pytest.raises(SecurityError, match="line too long"):
        parser.feed(b"\r")


def test_request_line_too_long_in_one_piece() -> None:
    parser = RequestParser(max_line_length=100)
    with pytest.raises(SecurityError, match="line too long"):
        parser.feed(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 98 + b"\r\n\r\n")


def test_request_line_too_long_for_the_request_line() -> None:
    parser = RequestParser(max_line_length=100)
    with pytest.raises(SecurityError):
        parser.feed(b"GET /" + b"a" * 200)


def test_request_endless_header_line_is_cut_short() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nX: ")
    with pytest.raises(SecurityError):
        for _ in range(100):
            parser.feed(b"a" * 1000)


class _CountingBytearray(bytearray):
    """A bytearray that counts the bytes that find() looks at."""

    scanned = 0

    def find(self, sub: bytes, start: int = 0) -> int:  # type: ignore[override]
        type(self).scanned += len(self) - start
        return super().find(sub, start)


@pytest.mark.parametrize("parser_type", [RequestParser, ResponseParser])
def test_trickled_long_line_is_scanned_in_linear_time(
    parser_type: type[RequestParser | ResponseParser],
) -> None:
    parser = parser_type(max_line_length=None)
    start = REQUEST[:16] if parser_type is RequestParser else RESPONSE_101[:16]
    buffer = parser._buffer  # white box: count the work done per byte
    buffer.data = _CountingBytearray()
    _CountingBytearray.scanned = 0
    parser.feed(start)
    size = 20_000
    for _ in range(size):
        parser.feed(b"a")
    # Re-scanning from the start of the line would cost size**2 / 2.
    assert _CountingBytearray.scanned <= 2 * (size + len(start))


# ResponseParser: 101


def test_response_101_in_one_piece_keeps_leftover() -> None:
    parser = ResponseParser()
    response = parser.feed(RESPONSE_101 + FRAME)
    assert response is not None
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    assert response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert response.body == b""
    assert parser.leftover == FRAME


def test_response_101_byte_at_a_time() -> None:
    parser = ResponseParser()
    results = feed_bytewise(parser, RESPONSE_101 + FRAME)
    assert len(results) == 1
    assert parser.leftover == FRAME
    assert parser.feed_eof() is None


def test_response_101_ignores_content_length() -> None:
    parser = ResponseParser()
    response = parser.feed(b"HTTP/1.1 101 OK\r\nContent-Length: 2\r\n\r\n" + FRAME)
    assert response is not None
    assert response.body == b""
    assert parser.leftover == FRAME


@pytest.mark.parametrize(
    ("line", "status_code", "reason"),
    [
        (b"HTTP/1.1 200 OK", 200, "OK"),
        (b"HTTP/1.1 404 Not  Found", 404, "Not  Found"),
        (b"HTTP/1.1 500 ", 500, ""),
        (b"HTTP/1.1 500", 500, ""),
        (b"HTTP/1.1 599 \tweird", 599, "\tweird"),
    ],
)
def test_response_status_line(line: bytes, status_code: int, reason: str) -> None:
    response = ResponseParser().feed(line + b"\r\nContent-Length: 0\r\n\r\n")
    assert response is not None
    assert response.status_code == status_code
    assert response.reason_phrase == reason


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 abc OK",
        b"HTTP/1.1 099 Weird",
        b"HTTP/1.1 600 Weird",
        b"HTTP/1.1 200 O\x00K",
        b"HTTP/1.1  200 OK",
    ],
)
def test_response_rejects_invalid_status_line(line: bytes) -> None:
    with pytest.raises(InvalidMessage, match="invalid HTTP status"):
        ResponseParser().feed(line + b"\r\n\r\n")


@pytest.mark.parametrize(
    "data",
    [b"HTTP/1.0 200 OK\r\n", b"HTTP/2 200\r\n", b"http/1.1 200 OK\r\n", b"\x15\x03\x03", b"<html>"],
)
def test_response_rejects_non_http_1_1_promptly(data: bytes) -> None:
    with pytest.raises(InvalidMessage, match="did not receive a valid HTTP response"):
        ResponseParser().feed(data)


@pytest.mark.parametrize("status_code", [100, 102, 103, 199])
def test_response_rejects_informational_other_than_101(status_code: int) -> None:
    with pytest.raises(InvalidMessage, match="unexpected informational response"):
        ResponseParser().feed(b"HTTP/1.1 %d Info\r\n\r\n" % status_code)


def test_response_rejects_invalid_header() -> None:
    with pytest.raises(InvalidMessage):
        ResponseParser().feed(b"HTTP/1.1 101 OK\r\nUpgrade : websocket\r\n\r\n")


def test_response_max_num_headers() -> None:
    with pytest.raises(SecurityError):
        ResponseParser(max_num_headers=1).feed(b"HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\n\r\n")


def test_response_max_line_length() -> None:
    parser = ResponseParser(max_line_length=20)
    with pytest.raises(SecurityError):
        parser.feed(b"HTTP/1.1 101 " + b"x" * 20)


# ResponseParser: bodies


@pytest.mark.parametrize("status_code", [204, 304])
def test_response_without_body(status_code: int) -> None:
    parser = ResponseParser()
    response = parser.feed(b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n" % status_code)
    assert response is not None
    assert response.body == b""


def test_response_body_by_content_length() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot ") is None
    response = parser.feed(b"found")
    assert response is not None
    assert response.body == b"not found"


def test_response_body_by_content_length_byte_at_a_time() -> None:
    parser = ResponseParser()
    results = feed_bytewise(parser, b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcdef")
    assert len(results) == 1
    response = results[0]
    assert isinstance(response, Response)
    assert response.body == b"abc"
    assert parser.leftover == b"def"


def test_response_repeated_equal_content_length() -> None:
    response = ResponseParser().feed(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nContent-Length: 02\r\n\r\nno"
    )
    assert response is not None
    assert response.body == b"no"


def test_response_rejects_conflicting_content_length() -> None:
    with pytest.raises(InvalidMessage, match="conflicting Content-Length"):
        ResponseParser().feed(b"HTTP/1.1 403 X\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n")


@pytest.mark.parametrize("value", [b"x", b"-1", b"1.0", b"", b"\xd9\xa1"])
def test_response_rejects_invalid_content_length(value: bytes) -> None:
    with pytest.raises(InvalidMessage):
        ResponseParser().feed(b"HTTP/1.1 403 X\r\nContent-Length: " + value + b"\r\n\r\n")


@pytest.mark.parametrize("value", [b"%d" % (MAX_BODY_SIZE + 1), b"9" * 19, b"9" * 5000])
def test_response_rejects_large_content_length_at_once(value: bytes) -> None:
    with pytest.raises(SecurityError, match="body too large"):
        ResponseParser().feed(b"HTTP/1.1 403 X\r\nContent-Length: " + value + b"\r\n\r\n")


def test_response_content_length_at_max_body_size() -> None:
    parser = ResponseParser()
    head = b"HTTP/1.1 403 X\r\nContent-Length: %d\r\n\r\n" % MAX_BODY_SIZE
    response = parser.feed(head + b"a" * MAX_BODY_SIZE)
    assert response is not None
    assert len(response.body) == MAX_BODY_SIZE


def test_response_body_until_eof() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\nsomething") is None
    assert parser.feed(b" broke") is None
    response = parser.feed_eof()
    assert response is not None
    assert response.body == b"something broke"
    assert parser.leftover == b""


def test_response_head_until_eof_without_body() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 500 Oops\r\n\r\n") is None
    response = parser.feed_eof()
    assert response is not None
    assert response.body == b""


def test_response_body_until_eof_too_large_while_reading() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 500 Oops\r\n\r\n")
    parser.feed(b"a" * MAX_BODY_SIZE)
    with pytest.raises(SecurityError, match="body too large"):
        parser.feed(b"a")


def test_response_body_until_eof_too_large_with_the_head() -> None:
    parser = ResponseParser()
    with pytest.raises(SecurityError, match="body too large"):
        parser.feed(b"HTTP/1.1 500 Oops\r\n\r\n" + b"a" * (MAX_BODY_SIZE + 1))


def test_response_body_until_eof_at_max_size() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 500 Oops\r\n\r\n" + b"a" * MAX_BODY_SIZE)
    response = parser.feed_eof()
    assert response is not None
    assert len(response.body) == MAX_BODY_SIZE


def test_response_chunked_body() -> None:
    data = (
        b"HTTP/1.1 404 Not Found\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"\r\n"
        b"4\r\nnot \r\n"
        b"5;ext=1\r\nfound\r\n"
        b"0 \r\n"
        b"Trailer: x\r\n"
        b"\r\n"
    )
    response = ResponseParser().feed(data)
    assert response is not None
    assert response.body == b"not found"
    # Bytewise too.
    parser = ResponseParser()
    results = feed_bytewise(parser, data + b"extra")
    assert len(results) == 1
    bytewise = results[0]
    assert isinstance(bytewise, Response)
    assert bytewise.body == b"not found"
    assert parser.leftover == b"extra"


def test_response_chunked_hex_sizes() -> None:
    data = b"HTTP/1.1 404 X\r\nTransfer-Encoding: chunked\r\n\r\n00A\r\n0123456789\r\n000\r\n\r\n"
    response = ResponseParser().feed(data)
    assert response is not None
    assert response.body == b"0123456789"


def test_response_chunked_as_last_of_several_codings() -> None:
    data = b"HTTP/1.1 404 X\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n"
    response = ResponseParser().feed(data + b"2\r\nab\r\n0\r\n\r\n")
    assert response is not None
    assert response.body == b"ab"


def test_response_chunked_wins_over_content_length() -> None:
    data = b"HTTP/1.1 404 X\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
    response = ResponseParser().feed(data + b"2\r\nab\r\n0\r\n\r\n")
    assert response is not None
    assert response.body == b"ab"


def test_response_other_transfer_coding_reads_until_eof() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 404 X\r\nTransfer-Encoding: chunked, gzip\r\n\r\n\x1f\x8b")
    response = parser.feed_eof()
    assert response is not None
    assert response.body == b"\x1f\x8b"


@pytest.mark.parametrize(
    ("chunks", "exc_type"),
    [
        (b"x\r\n", InvalidMessage),
        (b"\r\n", InvalidMessage),
        (b"-1\r\n", InvalidMessage),
        (b"2\r\nabc\r\n", InvalidMessage),
        (b"2\r\nab", None),  # incomplete: the error comes at EOF
        (b"%x\r\n" % (MAX_BODY_SIZE + 1), SecurityError),
        (b"1" * 19 + b"\r\n", SecurityError),
        (b"%x\r\n%s\r\n1\r\n" % (MAX_BODY_SIZE, b"a" * MAX_BODY_SIZE), SecurityError),
    ],
)
def test_response_invalid_chunked_body(chunks: bytes, exc_type: type[Exception] | None) -> None:
    parser = ResponseParser()
    head = b"HTTP/1.1 404 X\r\nTransfer-Encoding: chunked\r\n\r\n"
    if exc_type is None:
        assert parser.feed(head + chunks) is None
        with pytest.raises(InvalidMessage, match="connection closed before the response"):
            parser.feed_eof()
    else:
        with pytest.raises(exc_type):
            parser.feed(head + chunks)


# ResponseParser: end of stream


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"HTTP/1.1 101",
        RESPONSE_101[:-2],
        b"HTTP/1.1 404 X\r\nContent-Length: 3\r\n\r\nab",
        b"HTTP/1.1 404 X\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ],
)
def test_response_eof_before_complete(data: bytes) -> None:
    parser = ResponseParser()
    assert parser.feed(data) is None
    with pytest.raises(InvalidMessage) as raised:
        parser.feed_eof()
    assert str(raised.value) == "connection closed before the response was complete"


def test_response_eof_after_complete_returns_none() -> None:
    parser = ResponseParser()
    assert parser.feed(RESPONSE_101) is not None
    assert parser.feed_eof() is None
