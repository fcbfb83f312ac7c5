"""HTTP/1.1 messages of the opening handshake: building them and parsing them incrementally.

Only what RFC 6455 needs is supported: a ``GET`` request without a body, and a
response that is either ``101 Switching Protocols`` or an error page whose body
is read so the client can report it.

The parsers take bytes as they arrive and never re-scan what they have already
looked at, so a peer trickling one byte at a time costs linear time; they
enforce the header limits (:data:`~websockets_sync.defaults.MAX_NUM_HEADERS`,
:data:`~websockets_sync.defaults.MAX_LINE_LENGTH`) before a line is complete,
so a peer can't make them buffer without bound.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass

from ..defaults import MAX_BODY_SIZE, MAX_LINE_LENGTH, MAX_NUM_HEADERS
from ..exceptions import InvalidMessage, SecurityError
from .headers import Headers

__all__ = [
    "GUID",
    "MAX_BODY_SIZE",
    "Request",
    "RequestParser",
    "Response",
    "ResponseParser",
    "accept_key",
    "generate_key",
]

#: The GUID that RFC 6455 §1.3 appends to Sec-WebSocket-Key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# RFC 7230 §3.2.6 token, as bytes.
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 7230 §3.2: field-value after OWS is stripped; only visible ASCII, SP and
# HTAB are accepted (obs-text and control characters are rejected).
_VALUE_RE = re.compile(rb"[\t\x20-\x7e]*")
# A header line as _parse_header_line accepts it, OWS around the value not
# stripped yet; no two parts can match the same characters, so that matching
# takes linear time whatever the input.
_HEADER_LINE = r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([\t\x20-\x7e]*)\r\n"
_HEADER_LINE_RE = re.compile(_HEADER_LINE)
_HEADER_LINES_RE = re.compile(f"(?:{_HEADER_LINE})+".encode())
# RFC 7230 §3.1.1 with the origin-form of §5.3.1: visible ASCII starting with
# "/", no fragment (RFC 6455 §3 forbids them in WebSocket URIs).
_REQUEST_LINE_RE = re.compile(rb"GET (/[\x21\x22\x24-\x7e]*) HTTP/1\.1")
# RFC 7230 §3.1.2; the SP before an empty reason phrase is tolerated if missing.
_STATUS_LINE_RE = re.compile(rb"HTTP/1\.1 ([0-9]{3})(?: ([\t\x20-\x7e]*))?")
# RFC 7230 §4.1: chunk-size [ chunk-ext ].
_CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]+)[\t ]*(?:;[\t\x20-\x7e]*)?")
# More decimal digits than any size we accept; keeps int() away from huge strings.
_MAX_DIGITS = 18


def generate_key() -> str:
    """Return a fresh Sec-WebSocket-Key: 16 random bytes, base64-encoded (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """Return the Sec-WebSocket-Accept value that answers ``key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Request:
    """An HTTP ``GET`` request opening a WebSocket connection.

    Attributes:
        path: The request target, in origin-form (``/path?query``).
        headers: The request headers.
    """

    path: str
    headers: Headers

    def serialize(self) -> bytes:
        """Return the request as bytes to send.

        Raises:
            ValueError: When the path isn't visible ASCII starting with ``/``.
        """
        line = f"GET {self.path} HTTP/1.1"
        if not line.isascii() or _REQUEST_LINE_RE.fullmatch(line.encode()) is None:
            raise ValueError(f"invalid request path: {self.path!r}")
        return line.encode() + b"\r\n" + self.headers.serialize()


@dataclass
class Response:
    """An HTTP response to the opening handshake.

    Attributes:
        status_code: The status code, ``101`` when the handshake succeeds.
        reason_phrase: The reason phrase, e.g. ``"Switching Protocols"``.
        headers: The response headers.
        body: The body; empty for ``101``.
    """

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""

    def serialize(self) -> bytes:
        """Return the response as bytes to send.

        The caller is responsible for a ``Content-Length`` header matching the body.

        Raises:
            ValueError: When the status code isn't in 100-599 or the reason
                phrase holds a control character.
        """
        line = f"HTTP/1.1 {self.status_code} {self.reason_phrase}"
        if (
            not 100 <= self.status_code < 600
            or not line.isascii()
            or _STATUS_LINE_RE.fullmatch(line.encode()) is None
        ):
            raise ValueError(f"invalid status line: {self.status_code} {self.reason_phrase!r}")
        return line.encode() + b"\r\n" + self.headers.serialize() + self.body


class _Incomplete(Exception):
    """The connection ended before the parser had what it needed."""


class _Buffer:
    """Bytes received and not consumed yet, read through generator-based helpers.

    The helpers yield when they need more data; :class:`_Parser` resumes them
    after each :meth:`feed`.
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = False
        # Offset below which data holds no LF: the next search starts there.
        self._scanned = 0

    def read_line(
        self,
        max_length: int | None,
        check_partial: Callable[[bytes], None] | None = None,
    ) -> Generator[None, None, bytes]:
        """Read a line ending with CRLF; return it without the CRLF.

        ``check_partial`` sees the first bytes of the line each time more data
        arrives, so that a peer that doesn't speak HTTP is rejected at once.
        """
        while True:
            end = self.data.find(b"\n", self._scanned)
            if end >= 0:
                break
            if check_partial is not None:
                check_partial(bytes(self.data[:16]))
            self._scanned = len(self.data)
            # The CR of the CRLF doesn't count toward the limit.
            length = self._scanned - self.data.endswith(b"\r")
            if max_length is not None and length > max_length:
                raise SecurityError("line too long")
            if self.eof:
                raise _Incomplete
            yield
        line = bytes(self.data[:end])
        # Deleting from the front of a bytearray is cheap in CPython.
        del self.data[: end + 1]
        self._scanned = 0
        if check_partial is not None:
            check_partial(line[:16])
        if not line.endswith(b"\r"):
            raise InvalidMessage("line without CRLF")
        line = line[:-1]
        if max_length is not None and len(line) > max_length:
            raise SecurityError("line too long")
        return line

    def read_exact(self, size: int) -> Generator[None, None, bytes]:
        """Read exactly ``size`` bytes."""
        while len(self.data) < size:
            if self.eof:
                raise _Incomplete
            yield
        data = bytes(self.data[:size])
        del self.data[:size]
        self._scanned = 0
        return data

    def read_to_eof(self, max_size: int) -> Generator[None, None, bytes]:
        """Read everything until the end of the stream."""
        while True:
            if len(self.data) > max_size:
                raise SecurityError("body too large")
            if self.eof:
                break
            yield
        data = bytes(self.data)
        self.data.clear()
        return data


def _read_headers(
    buffer: _Buffer,
    max_num_headers: int | None,
    max_line_length: int | None,
) -> Generator[None, None, Headers]:
    """Read header lines up to the empty line ending the head (RFC 7230 §3.2)."""
    headers = _parse_complete_headers(buffer, max_num_headers, max_line_length)
    if headers is not None:
        return headers
    headers = Headers()
    count = 0
    while True:
        line = yield from buffer.read_line(max_line_length)
        if not line:
            return headers
        count += 1
        if max_num_headers is not None and count > max_num_headers:
            raise SecurityError("too many HTTP headers")
        # _parse_header_line checked both as strictly as Headers would.
        headers._append(*_parse_header_line(line))


def _parse_complete_headers(
    buffer: _Buffer,
    max_num_headers: int | None,
    max_line_length: int | None,
) -> Headers | None:
    """Parse every header line at once when the whole head is in the buffer.

    The usual case: a handshake arrives in one segment. One regular expression
    checks all the lines as :func:`_parse_header_line` would, one by one.
    Returns ``None``, consuming nothing, when the head is incomplete or
    anything is amiss: :func:`_read_headers` then reads line by line, and
    raises the precise error.
    """
    data = buffer.data
    end = data.find(b"\r\n\r\n")
    if end < 0 or (max_line_length is not None and end > max_line_length):
        return None
    head = bytes(data[: end + 2])
    if _HEADER_LINES_RE.fullmatch(head) is None:
        return None
    pairs = _HEADER_LINE_RE.findall(head.decode("ascii"))
    if max_num_headers is not None and len(pairs) > max_num_headers:
        return None
    headers = Headers()
    for name, value in pairs:
        headers._append(name, value.strip(" \t"))
    del data[: end + 4]
    buffer._scanned = 0
    return headers


def _parse_header_line(line: bytes) -> tuple[str, str]:
    """Split ``field-name ":" OWS field-value OWS`` (RFC 7230 §3.2)."""
    if line.startswith((b" ", b"\t")):
        # RFC 7230 §3.2.4: a server MUST reject obs-fold with 400 and a client
        # MAY treat it as an error.
        raise InvalidMessage("obsolete line folding in headers")
    name, colon, value = line.partition(b":")
    if not colon or _TOKEN_RE.fullmatch(name) is None:
        # Also covers whitespace before the colon, which RFC 7230 §3.2.4 says
        # a server MUST reject with 400.
        raise InvalidMessage(f"invalid HTTP header line: {_preview(line)}")
    value = value.strip(b" \t")
    if _VALUE_RE.fullmatch(value) is None:
        raise InvalidMessage(f"invalid HTTP header value: {_preview(line)}")
    return name.decode("ascii"), value.decode("ascii")


def _preview(data: bytes) -> str:
    """Show the start of some bytes in an error message."""
    return repr(data[:64])


def _parse_size(value: str) -> int | None:
    """Parse a Content-Length value; ``None`` when it's too large to bother."""
    if not value.isascii() or not value.isdigit():
        raise InvalidMessage(f"invalid Content-Length: {value}")
    if len(value.lstrip("0")) > _MAX_DIGITS:
        return None
    return int(value)


class _Parser:
    """Drive a parsing generator with the bytes and the end of stream it is fed."""

    def __init__(self, max_num_headers: int | None, max_line_length: int | None) -> None:
        self._max_num_headers = max_num_headers
        self._max_line_length = max_line_length
        self._buffer = _Buffer()
        self._parser = self._parse()
        # Once the message is complete: nothing more to parse.
        self._done = False
        # The error that stopped parsing, raised again if more data is fed.
        self._error: Exception | None = None

    def _parse(self) -> Generator[None, None, Request | Response]:
        raise NotImplementedError

    def _incomplete_message(self) -> str:
        raise NotImplementedError

    @property
    def leftover(self) -> bytes:
        """Bytes received after the complete message: the peer's first WebSocket frames."""
        return bytes(self._buffer.data) if self._done else b""

    def _advance(self) -> Request | Response | None:
        if self._error is not None:
            raise self._error
        if self._done:
            return None
        try:
            next(self._parser)
        except StopIteration as exc:
            self._done = True
            result: Request | Response = exc.value
            return result
        except _Incomplete:
            self._error = InvalidMessage(self._incomplete_message())
            raise self._error from None
        except Exception as exc:
            self._error = exc
            raise
        return None

    def _feed(self, data: bytes) -> Request | Response | None:
        if self._buffer.eof:
            raise InvalidMessage("data received after the end of the stream")
        self._buffer.data += data
        return self._advance()

    def _feed_eof(self) -> Request | Response | None:
        self._buffer.eof = True
        return self._advance()


class RequestParser(_Parser):
    """Parse the client's opening handshake request, as bytes arrive.

    Only ``GET`` with ``HTTP/1.1`` and an origin-form target is accepted (RFC
    6455 §4.1), and no body: Content-Length other than 0 and Transfer-Encoding
    are rejected. A non-``GET`` method is reported as :class:`InvalidMessage`
    like any malformed request; the server answers 400, which RFC 6455 §4.2.1
    suggests, rather than 405, which would need an ``Allow`` header.

    Args:
        max_num_headers: Most header lines accepted; ``None`` for no limit.
        max_line_length: Longest line accepted, CRLF excluded; ``None`` for no limit.
    """

    def __init__(
        self,
        *,
        max_num_headers: int | None = MAX_NUM_HEADERS,
        max_line_length: int | None = MAX_LINE_LENGTH,
    ) -> None:
        super().__init__(max_num_headers, max_line_length)

    def feed(self, data: bytes) -> Request | None:
        """Take bytes from the network; return the request once its head is complete.

        Bytes after the head are kept in :attr:`leftover`.

        Raises:
            InvalidMessage: When the request is malformed or not a WebSocket ``GET``.
            SecurityError: When there are too many headers or a line is too long.
        """
        result = self._feed(data)
        assert result is None or isinstance(result, Request)
        return result

    def feed_eof(self) -> None:
        """Take the end of the stream.

        Raises:
            InvalidMessage: When the request wasn't complete.
        """
        self._feed_eof()

    def _incomplete_message(self) -> str:
        return "connection closed before the request was complete"

    def _parse(self) -> Generator[None, None, Request]:
        line = yield from self._buffer.read_line(self._max_line_length, _check_request_start)
        match = _REQUEST_LINE_RE.fullmatch(line)
        if match is None:
            raise InvalidMessage(f"invalid HTTP request line: {_preview(line)}")
        path = match.group(1).decode("ascii")
        headers = yield from _read_headers(
            self._buffer, self._max_num_headers, self._max_line_length
        )
        # RFC 6455 §4.1 describes a bare GET; a body would be read as frames.
        if "Transfer-Encoding" in headers:
            raise InvalidMessage("unexpected Transfer-Encoding in a WebSocket request")
        for value in headers.get_all("Content-Length"):
            if _parse_size(value) != 0:
                raise InvalidMessage("unexpected body in a WebSocket request")
        return Request(path, headers)


def _check_request_start(start: bytes) -> None:
    """Reject at once a request line that can't start with ``GET /``."""
    expected = b"GET /"[: len(start)]
    if start[: len(expected)] != expected:
        raise InvalidMessage(f"did not receive a WebSocket GET request: {_preview(start)}")


class ResponseParser(_Parser):
    """Parse the server's answer to the opening handshake, as bytes arrive.

    A ``101`` response ends with its head; bytes after it are kept in
    :attr:`leftover`. Other responses have their body read, up to
    :data:`MAX_BODY_SIZE`, so that the error page can be shown: by chunked
    Transfer-Encoding (decoded), by Content-Length, or until the end of the
    stream (RFC 7230 §3.3.3). Informational responses other than ``101`` are
    rejected: the client sends nothing that calls for them.

    Args:
        max_num_headers: Most header lines accepted; ``None`` for no limit.
        max_line_length: Longest line accepted, CRLF excluded; ``None`` for no limit.
    """

    def __init__(
        self,
        *,
        max_num_headers: int | None = MAX_NUM_HEADERS,
        max_line_length: int | None = MAX_LINE_LENGTH,
    ) -> None:
        super().__init__(max_num_headers, max_line_length)

    def feed(self, data: bytes) -> Response | None:
        """Take bytes from the network; return the response once it is complete.

        Raises:
            InvalidMessage: When the response is malformed.
            SecurityError: When there are too many headers, a line is too
                long or the body is larger than :data:`MAX_BODY_SIZE`.
        """
        result = self._feed(data)
        assert result is None or isinstance(result, Response)
        return result

    def feed_eof(self) -> Response | None:
        """Take the end of the stream; return the response if this completes it.

        Returns ``None`` when :meth:`feed` already returned the response.

        Raises:
            InvalidMessage: When the response wasn't complete.
            SecurityError: When the body is larger than :data:`MAX_BODY_SIZE`.
        """
        result = self._feed_eof()
        assert result is None or isinstance(result, Response)
        return result

    def _incomplete_message(self) -> str:
        return "connection closed before the response was complete"

    def _parse(self) -> Generator[None, None, Response]:
        line = yield from self._buffer.read_line(self._max_line_length, _check_response_start)
        match = _STATUS_LINE_RE.fullmatch(line)
        if match is None:
            raise InvalidMessage(f"invalid HTTP status line: {_preview(line)}")
        status_code = int(match.group(1))
        if not 100 <= status_code < 600:
            raise InvalidMessage(f"invalid HTTP status code: {status_code}")
        if 100 <= status_code < 200 and status_code != 101:
            raise InvalidMessage(f"unexpected informational response: {status_code}")
        reason_phrase = (match.group(2) or b"").decode("ascii")
        headers = yield from _read_headers(
            self._buffer, self._max_num_headers, self._max_line_length
        )
        body = yield from self._read_body(status_code, headers)
        return Response(status_code, reason_phrase, headers, body)

    def _read_body(self, status_code: int, headers: Headers) -> Generator[None, None, bytes]:
        """Read the body as RFC 7230 §3.3.3 says its length is determined."""
        if status_code in (101, 204, 304):
            return b""
        transfer_encodings = headers.get_all("Transfer-Encoding")
        if transfer_encodings:
            codings = [
                coding.strip(" \t").lower() for coding in ",".join(transfer_encodings).split(",")
            ]
            if codings[-1] == "chunked":
                return (yield from self._read_chunked())
            return (yield from self._buffer.read_to_eof(MAX_BODY_SIZE))
        lengths = headers.get_all("Content-Length")
        if lengths:
            sizes = {_parse_size(value) for value in lengths}
            if len(sizes) > 1:
                raise InvalidMessage("conflicting Content-Length headers")
            (size,) = sizes
            if size is None or size > MAX_BODY_SIZE:
                raise SecurityError("body too large")
            return (yield from self._buffer.read_exact(size))
        return (yield from self._buffer.read_to_eof(MAX_BODY_SIZE))

    def _read_chunked(self) -> Generator[None, None, bytes]:
        """Decode a chunked body (RFC 7230 §4.1), ignoring extensions and trailers."""
        body = bytearray()
        while True:
            line = yield from self._buffer.read_line(self._max_line_length)
            match = _CHUNK_SIZE_RE.fullmatch(line)
            if match is None:
                raise InvalidMessage(f"invalid chunk size: {_preview(line)}")
            digits = match.group(1).lstrip(b"0") or b"0"
            if len(digits) > _MAX_DIGITS:
                raise SecurityError("body too large")
            size = int(digits, 16)
            if len(body) + size > MAX_BODY_SIZE:
                raise SecurityError("body too large")
            if size == 0:
                break
            body += yield from self._buffer.read_exact(size)
            if (yield from self._buffer.read_exact(2)) != b"\r\n":
                raise InvalidMessage("chunk without CRLF")
        yield from _read_headers(self._buffer, self._max_num_headers, self._max_line_length)
        return bytes(body)


def _check_response_start(start: bytes) -> None:
    """Reject at once a status line that can't start with ``HTTP/1.1 ``."""
    expected = b"HTTP/1.1 "[: len(start)]
    if start[: len(expected)] != expected:
        raise InvalidMessage(f"did not receive a valid HTTP response: {_preview(start)}")
