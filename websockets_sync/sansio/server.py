"""The server role of the opening handshake (RFC 6455 §4.2), without I/O.

The I/O layer feeds what it receives to :meth:`ServerHandshake.receive_data`
until a request comes out, then calls :meth:`ServerHandshake.accept`, which
checks every point of RFC 6455 §4.2.1, negotiates extensions and the
subprotocol, and builds the ``101`` response. When it raises, or when the
parser does, :meth:`ServerHandshake.reject_for` turns the exception into the
HTTP error response that RFC 6455 §4.2.1 and §4.4 call for.
"""

from __future__ import annotations

import http
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..defaults import MAX_LINE_LENGTH, MAX_NUM_HEADERS
from ..exceptions import (
    AbortHandshake,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidOrigin,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
)
from ..version import version
from .headers import (
    ExtensionHeader,
    Headers,
    HeadersLike,
    build_extension_list,
    parse_connection,
    parse_extension_list,
    parse_subprotocol_list,
    parse_upgrade,
    require_upgrade_token,
    validate_subprotocols,
)
from .http11 import Request, RequestParser, Response, accept_key

if TYPE_CHECKING:
    from .extensions.base import Extension, ServerExtensionFactory

__all__ = ["SERVER", "ServerHandshake"]

#: The default Server header value.
SERVER = f"Python/{sys.version_info.major}.{sys.version_info.minor} websockets_sync/{version}"

#: Sec-WebSocket-Version is checked with this header name in errors, so that
#: :meth:`ServerHandshake.reject_for` can answer 426 with the supported version.
_VERSION_HEADER = "Sec-WebSocket-Version"

# Base64 of 16 bytes, as base64.b64decode(key, validate=True) accepts it:
# 22 characters and the padding.
_KEY_RE = re.compile(r"[A-Za-z0-9+/]{22}==")
# RFC 7230 §5.4 and RFC 3986 §3.2.2: uri-host [ ":" port ], where uri-host is
# an IP literal in brackets or a reg-name (which covers IPv4 addresses).
_HOST_RE = re.compile(r"(?:\[[0-9A-Za-z:.%\-_~]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?")

_ExtraHeaders = HeadersLike | Callable[[str, Headers], HeadersLike]
_SelectSubprotocol = Callable[[Sequence[str], Sequence[str]], str | None]


class ServerHandshake:
    """Check the client's opening handshake request and build the response.

    Args:
        origins: Allowed values of the Origin header; ``None`` in the list
            allows requests without one. ``None`` disables the check.
        extensions: The extensions the server supports, in order of preference.
        subprotocols: The subprotocols the server supports, in order of preference.
        extra_headers: Headers added to the ``101`` response, or a callable
            that gets the request path and headers and returns them.
        server_header: The Server header value; ``None`` to send none.
        max_num_headers: Most request headers accepted; ``None`` for no limit.
        max_line_length: Longest request line accepted; ``None`` for no limit.

    Attributes:
        request: The request, once :meth:`accept` succeeded.
        subprotocol: The subprotocol selected, once :meth:`accept` succeeded.
        extensions: The extensions accepted, once :meth:`accept` succeeded.

    Raises:
        TypeError: When ``subprotocols`` isn't a sequence of strings.
        ValueError: When a subprotocol isn't a token.
    """

    def __init__(
        self,
        *,
        origins: Sequence[str | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: _ExtraHeaders | None = None,
        server_header: str | None = SERVER,
        max_num_headers: int | None = MAX_NUM_HEADERS,
        max_line_length: int | None = MAX_LINE_LENGTH,
    ) -> None:
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.origins = None if origins is None else list(origins)
        self.available_extensions = list(extensions or ())
        self.available_subprotocols = list(subprotocols or ())
        self.extra_headers = extra_headers
        self.server_header = server_header
        self.request: Request | None = None
        self.subprotocol: str | None = None
        self.extensions: list[Extension] = []
        self._parser = RequestParser(
            max_num_headers=max_num_headers,
            max_line_length=max_line_length,
        )

    def receive_data(self, data: bytes) -> Request | None:
        """Feed bytes from the client; return the request once its head is complete.

        Raises:
            InvalidMessage: When the request is malformed or not a WebSocket ``GET``.
            SecurityError: When the request exceeds a limit.
        """
        return self._parser.feed(data)

    def receive_eof(self) -> None:
        """Feed the end of the stream.

        Raises:
            InvalidMessage: When the request was incomplete.
        """
        self._parser.feed_eof()

    @property
    def leftover(self) -> bytes:
        """Bytes received after the request: the client's first WebSocket frames."""
        return self._parser.leftover

    def accept(
        self,
        request: Request,
        select_subprotocol: _SelectSubprotocol | None = None,
    ) -> Response:
        """Check the request and return the ``101`` response (RFC 6455 §4.2).

        Args:
            request: The request from :meth:`receive_data`.
            select_subprotocol: Picks a subprotocol from the client's and the
                server's lists; by default, the first of the server's that the
                client offered.

        Raises:
            InvalidUpgrade: When Upgrade lacks ``websocket`` or Connection lacks ``upgrade``.
            InvalidHeader: When Host, Sec-WebSocket-Key or Sec-WebSocket-Version
                is missing, repeated or invalid, or Origin is repeated.
            InvalidHeaderFormat: When a header can't be parsed.
            InvalidOrigin: When the Origin isn't allowed.
            ValueError: When ``select_subprotocol`` returns a subprotocol the
                client didn't offer.
        """
        headers = request.headers
        _check_host(headers)
        _check_upgrade(headers)
        # Version before key: a client of an older draft gets the 426 telling
        # it which version to use (RFC 6455 §4.4), not a 400 about its key.
        _check_version(headers)
        key = _check_key(headers)
        self._check_origin(headers)
        extension_headers, extensions = self._negotiate_extensions(headers)
        subprotocol = self._select_subprotocol(headers, select_subprotocol)

        response_headers = Headers()
        # Values known to be valid: no need to check them as __setitem__ does.
        response_headers._append("Upgrade", "websocket")
        response_headers._append("Connection", "Upgrade")
        response_headers._append("Sec-WebSocket-Accept", accept_key(key))
        if extension_headers:
            response_headers["Sec-WebSocket-Extensions"] = build_extension_list(extension_headers)
        if subprotocol is not None:
            response_headers["Sec-WebSocket-Protocol"] = subprotocol
        extra = self.extra_headers
        if callable(extra):
            extra = extra(request.path, headers)
        if extra is not None:
            response_headers.update(extra)
        if self.server_header is not None and "Server" not in response_headers:
            response_headers["Server"] = self.server_header

        self.request = request
        self.extensions = extensions
        self.subprotocol = subprotocol
        return Response(101, "Switching Protocols", response_headers)

    def _check_origin(self, headers: Headers) -> None:
        # RFC 6455 §4.2.2: a server that checks origins answers 403 to an
        # origin it doesn't accept (RFC 6455 §10.2).
        if self.origins is None:
            return
        values = headers.get_all("Origin")
        if len(values) > 1:
            raise InvalidHeader("Origin", "multiple values")
        origin = values[0] if values else None
        if origin not in self.origins:
            raise InvalidOrigin(origin)

    def _negotiate_extensions(
        self, headers: Headers
    ) -> tuple[list[ExtensionHeader], list[Extension]]:
        """Accept the client's offers in its order (RFC 6455 §9.1).

        Each offer goes to the server's factories for that name in turn; one
        raising :class:`NegotiationError` declines it. Once an extension is
        accepted, later offers of the same name are skipped: they are the
        client's fallbacks for the same extension.
        """
        offers: list[ExtensionHeader] = []
        for value in headers.get_all("Sec-WebSocket-Extensions"):
            offers.extend(parse_extension_list(value))
        response_params: list[ExtensionHeader] = []
        accepted: list[Extension] = []
        for name, params in offers:
            if any(accepted_name == name for accepted_name, _ in response_params):
                continue
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    params_out, extension = factory.process_request_params(params, accepted)
                except NegotiationError:
                    continue
                response_params.append((name, params_out))
                accepted.append(extension)
                break
        return response_params, accepted

    def _select_subprotocol(
        self,
        headers: Headers,
        select_subprotocol: _SelectSubprotocol | None,
    ) -> str | None:
        client_subprotocols: list[str] = []
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            client_subprotocols.extend(parse_subprotocol_list(value))
        if select_subprotocol is None:
            # Server preference order: the server knows best what it serves.
            for subprotocol in self.available_subprotocols:
                if subprotocol in client_subprotocols:
                    return subprotocol
            return None
        selected = select_subprotocol(client_subprotocols, self.available_subprotocols)
        # RFC 6455 §4.2.2: the server MUST select one of the client's values.
        if selected is not None and selected not in client_subprotocols:
            raise ValueError(f"select_subprotocol returned {selected!r}, which wasn't offered")
        return selected

    def reject(
        self,
        status: int,
        body: str | bytes = b"",
        headers: HeadersLike | None = None,
    ) -> Response:
        """Build a plain HTTP response that declines the WebSocket handshake.

        Adds Content-Length, ``Connection: close``, Content-Type
        ``text/plain; charset=utf-8`` when ``body`` is a :class:`str` and no
        Content-Type is given, and the Server header.

        Raises:
            ValueError: When ``status`` isn't a valid HTTP status code.
        """
        try:
            reason_phrase = http.HTTPStatus(status).phrase
        except ValueError:
            if not 100 <= status < 600:
                raise ValueError(f"invalid HTTP status code: {status}") from None
            reason_phrase = ""
        response_headers = Headers(headers) if headers is not None else Headers()
        if isinstance(body, str):
            body = body.encode()
            if "Content-Type" not in response_headers:
                response_headers["Content-Type"] = "text/plain; charset=utf-8"
        if "Content-Length" in response_headers:
            del response_headers["Content-Length"]
        response_headers["Content-Length"] = str(len(body))
        # The connection can't be reused: the client expected an upgrade.
        if "Connection" not in response_headers:
            response_headers["Connection"] = "close"
        if self.server_header is not None and "Server" not in response_headers:
            response_headers["Server"] = self.server_header
        return Response(status, reason_phrase, response_headers, body)

    def reject_for(self, exc: Exception) -> Response:
        """Build the error response for an exception raised by the handshake.

        - :class:`InvalidUpgrade` → 426 Upgrade Required with ``Upgrade: websocket``
          (RFC 7231 §6.5.15 requires it).
        - A missing, repeated or unsupported Sec-WebSocket-Version → 426 with
          ``Sec-WebSocket-Version: 13`` (RFC 6455 §4.2.2 and §4.4).
        - :class:`InvalidOrigin` → 403 Forbidden.
        - :class:`SecurityError` (too many headers, a line too long) → 431
          Request Header Fields Too Large (RFC 6585 §5).
        - :class:`AbortHandshake` → its own status, headers and body.
        - Any other :class:`InvalidHandshake` → 400 Bad Request (RFC 6455 §4.2.1).
        - Anything else → 500 Internal Server Error, without details.

        426 responses carry ``Connection: Upgrade, close``: RFC 7230 §6.7 wants
        the upgrade option next to an Upgrade header, and the connection is
        closed after the response like every rejection.
        """
        if isinstance(exc, AbortHandshake):
            return self.reject(exc.status, exc.body, exc.headers)
        if isinstance(exc, InvalidUpgrade):
            return self._upgrade_required(exc, Headers())
        if isinstance(exc, InvalidHeader) and exc.name == _VERSION_HEADER:
            return self._upgrade_required(exc, Headers({_VERSION_HEADER: "13"}))
        if isinstance(exc, InvalidOrigin):
            return self.reject(403, _explain(exc))
        if isinstance(exc, SecurityError):
            return self.reject(431, _explain(exc))
        if isinstance(exc, InvalidHandshake):
            return self.reject(400, _explain(exc))
        return self.reject(
            500,
            "Failed to open a WebSocket connection.\nSee server log for more information.\n",
        )

    def _upgrade_required(self, exc: Exception, headers: Headers) -> Response:
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade, close"
        return self.reject(426, _explain(exc), headers)


def _explain(exc: Exception) -> str:
    return f"Failed to open a WebSocket connection: {exc}.\n"


def _check_host(headers: Headers) -> None:
    # RFC 7230 §5.4: a server MUST respond with 400 to a request without Host,
    # with more than one, or with an invalid one. RFC 6455 §4.2.1 requires it too.
    values = headers.get_all("Host")
    if not values:
        raise InvalidHeader("Host")
    if len(values) > 1:
        raise InvalidHeader("Host", "multiple values")
    if _HOST_RE.fullmatch(values[0]) is None:
        raise InvalidHeaderValue("Host", values[0])


def _check_upgrade(headers: Headers) -> None:
    # RFC 6455 §4.2.1: Upgrade contains "websocket" and Connection contains
    # "Upgrade", both ASCII case-insensitive.
    require_upgrade_token(headers, "Upgrade", "websocket", parse_upgrade)
    require_upgrade_token(headers, "Connection", "upgrade", parse_connection)


def _check_key(headers: Headers) -> str:
    # RFC 6455 §4.2.1: exactly one Sec-WebSocket-Key, "a base64-encoded value
    # that, when decoded, is 16 bytes in length".
    values = headers.get_all("Sec-WebSocket-Key")
    if not values:
        raise InvalidHeader("Sec-WebSocket-Key")
    if len(values) > 1:
        raise InvalidHeader("Sec-WebSocket-Key", "multiple values")
    key = values[0]
    if _KEY_RE.fullmatch(key) is None:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key)
    return key


def _check_version(headers: Headers) -> None:
    # RFC 6455 §4.2.1: exactly one Sec-WebSocket-Version, whose value is 13.
    values = headers.get_all(_VERSION_HEADER)
    if not values:
        raise InvalidHeader(_VERSION_HEADER)
    if len(values) > 1:
        raise InvalidHeader(_VERSION_HEADER, "multiple values")
    if values[0] != "13":
        raise InvalidHeaderValue(_VERSION_HEADER, values[0])
