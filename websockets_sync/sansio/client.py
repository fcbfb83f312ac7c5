"""The client role of the opening handshake (RFC 6455 §4.1), without I/O.

The I/O layer sends :meth:`ClientHandshake.request`, feeds what it receives to
:meth:`ClientHandshake.receive_data` until a response comes out, then calls
:meth:`ClientHandshake.process_response`, which checks every point that RFC
6455 §4.1 says the client MUST check and negotiates extensions and the
subprotocol.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..defaults import MAX_LINE_LENGTH, MAX_NUM_HEADERS
from ..exceptions import (
    InvalidHeader,
    InvalidHeaderValue,
    InvalidStatusCode,
    InvalidUpgrade,
    NegotiationError,
)
from ..version import version
from .headers import (
    Headers,
    HeadersLike,
    build_authorization_basic,
    build_extension_list,
    build_subprotocol_list,
    parse_connection,
    parse_extension_list,
    parse_subprotocol_list,
    parse_upgrade,
    require_upgrade_token,
    validate_subprotocols,
)
from .http11 import Request, Response, ResponseParser, accept_key, generate_key
from .uri import WebSocketURI, build_host

if TYPE_CHECKING:
    from .extensions.base import ClientExtensionFactory, Extension

__all__ = ["USER_AGENT", "ClientHandshake"]

#: The default User-Agent header value.
USER_AGENT = f"Python/{sys.version_info.major}.{sys.version_info.minor} websockets_sync/{version}"


class ClientHandshake:
    """Build the opening handshake request and check the server's response.

    Args:
        wsuri: Where to connect, from :func:`~websockets_sync.sansio.uri.parse_uri`.
        origin: The Origin header value, if any.
        extensions: The extensions to offer, in order of preference.
        subprotocols: The subprotocols to offer, in order of preference.
        extra_headers: Headers added to the request.
        user_agent_header: The User-Agent header value; ``None`` to send none.
        max_num_headers: Most response headers accepted; ``None`` for no limit.
        max_line_length: Longest response line accepted; ``None`` for no limit.

    Attributes:
        key: The Sec-WebSocket-Key sent, 16 random bytes in base64.
        subprotocol: The subprotocol the server selected, once the response is processed.
        extensions: The extensions the server accepted, once the response is processed.

    Raises:
        TypeError: When ``subprotocols`` isn't a sequence of strings.
        ValueError: When a subprotocol isn't a token.
    """

    def __init__(
        self,
        wsuri: WebSocketURI,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        max_num_headers: int | None = MAX_NUM_HEADERS,
        max_line_length: int | None = MAX_LINE_LENGTH,
    ) -> None:
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.wsuri = wsuri
        self.origin = origin
        self.available_extensions = list(extensions or ())
        self.available_subprotocols = list(subprotocols or ())
        self.extra_headers = extra_headers
        self.user_agent_header = user_agent_header
        self.key = generate_key()
        self.subprotocol: str | None = None
        self.extensions: list[Extension] = []
        self._parser = ResponseParser(
            max_num_headers=max_num_headers,
            max_line_length=max_line_length,
        )

    def request(self) -> Request:
        """Build the handshake request (RFC 6455 §4.1).

        Extra headers come after the required ones. Credentials in the URI
        become an ``Authorization: Basic`` header, and a User-Agent is added,
        unless the extra headers already have one.

        Raises:
            ValueError: When a header is invalid, e.g. a username with a colon.
        """
        headers = Headers()
        headers["Host"] = build_host(self.wsuri.host, self.wsuri.port, self.wsuri.secure)
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.origin is not None:
            headers["Origin"] = self.origin
        if self.available_extensions:
            headers["Sec-WebSocket-Extensions"] = build_extension_list(
                [
                    (factory.name, factory.get_request_params())
                    for factory in self.available_extensions
                ]
            )
        if self.available_subprotocols:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol_list(self.available_subprotocols)
        extra = Headers(self.extra_headers) if self.extra_headers is not None else Headers()
        user_info = self.wsuri.user_info
        if user_info is not None and "Authorization" not in extra:
            headers["Authorization"] = build_authorization_basic(*user_info)
        headers.update(extra)
        if self.user_agent_header is not None and "User-Agent" not in extra:
            headers["User-Agent"] = self.user_agent_header
        return Request(self.wsuri.resource_name, headers)

    def receive_data(self, data: bytes) -> Response | None:
        """Feed bytes from the server; return the response once it is complete.

        Raises:
            InvalidMessage: When the response is malformed.
            SecurityError: When the response exceeds a limit.
        """
        return self._parser.feed(data)

    def receive_eof(self) -> Response | None:
        """Feed the end of the stream; return the response if this completes it.

        Raises:
            InvalidMessage: When the response was incomplete.
            SecurityError: When the response body is too large.
        """
        return self._parser.feed_eof()

    @property
    def leftover(self) -> bytes:
        """Bytes received after the response: the server's first WebSocket frames."""
        return self._parser.leftover

    def process_response(self, response: Response) -> None:
        """Check the server's response and complete the negotiation (RFC 6455 §4.1).

        On success, :attr:`subprotocol` and :attr:`extensions` are set.

        Raises:
            InvalidStatusCode: When the status isn't 101.
            InvalidUpgrade: When Upgrade isn't ``websocket`` or Connection lacks ``upgrade``.
            InvalidHeader: When Sec-WebSocket-Accept is missing or repeated, or
                several subprotocols are selected.
            InvalidHeaderValue: When Sec-WebSocket-Accept doesn't match the key.
            InvalidHeaderFormat: When a header can't be parsed.
            NegotiationError: When the server selected an extension or a
                subprotocol that the client didn't offer or can't accept.
        """
        headers = response.headers
        # RFC 6455 §4.1: "If the status code received from the server is not
        # 101, the client handles the response per HTTP procedures."
        if response.status_code != 101:
            raise InvalidStatusCode(response.status_code, headers, response.body)
        _check_connection(headers)
        _check_upgrade(headers)
        _check_accept(headers, self.key)
        extensions = self._negotiate_extensions(headers)
        subprotocol = self._negotiate_subprotocol(headers)
        self.extensions = extensions
        self.subprotocol = subprotocol

    def _negotiate_extensions(self, headers: Headers) -> list[Extension]:
        """Accept the extensions the server selected, in its order (RFC 6455 §9.1)."""
        accepted: list[Extension] = []
        for value in headers.get_all("Sec-WebSocket-Extensions"):
            for name, params in parse_extension_list(value):
                accepted.append(self._accept_extension(name, params, accepted))
        return accepted

    def _accept_extension(
        self,
        name: str,
        params: Sequence[tuple[str, str | None]],
        accepted: Sequence[Extension],
    ) -> Extension:
        # RFC 6455 §4.1: the client MUST _Fail_ the connection if the server
        # selects an extension "that was not present in the client's handshake".
        for factory in self.available_extensions:
            if factory.name != name:
                continue
            try:
                return factory.process_response_params(params, accepted)
            except NegotiationError:
                # Another factory for the same name may accept these parameters.
                continue
        raise NegotiationError(f"unsupported extension: {name}, parameters {params}")

    def _negotiate_subprotocol(self, headers: Headers) -> str | None:
        """Return the subprotocol the server selected, after checking it was offered."""
        subprotocols: list[str] = []
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            subprotocols.extend(parse_subprotocol_list(value))
        if not subprotocols:
            return None
        if len(subprotocols) > 1:
            raise InvalidHeader(
                "Sec-WebSocket-Protocol", f"multiple values: {', '.join(subprotocols)}"
            )
        (subprotocol,) = subprotocols
        # RFC 6455 §4.1: the client MUST _Fail_ the connection if the server
        # selects a subprotocol "that was not present in the client's handshake".
        if subprotocol not in self.available_subprotocols:
            raise NegotiationError(f"unsupported subprotocol: {subprotocol}")
        return subprotocol


def _check_connection(headers: Headers) -> None:
    # RFC 6455 §4.1: the Connection header MUST contain a token that is an
    # ASCII case-insensitive match for "Upgrade".
    require_upgrade_token(headers, "Connection", "upgrade", parse_connection)


def _check_upgrade(headers: Headers) -> None:
    # RFC 6455 §4.1: the client MUST fail if the Upgrade header "contains a
    # value that is not an ASCII case-insensitive match for the value
    # 'websocket'", so anything besides websocket is refused.
    values = headers.get_all("Upgrade")
    protocols = [protocol.lower() for value in values for protocol in parse_upgrade(value)]
    if not protocols or any(protocol != "websocket" for protocol in protocols):
        raise InvalidUpgrade("Upgrade", ", ".join(values) if values else None)


def _check_accept(headers: Headers, key: str) -> None:
    # RFC 6455 §4.1: Sec-WebSocket-Accept MUST be the base64-encoded SHA-1 of
    # the key and the GUID, compared as a string.
    values = headers.get_all("Sec-WebSocket-Accept")
    if not values:
        raise InvalidHeader("Sec-WebSocket-Accept")
    if len(values) > 1:
        raise InvalidHeader("Sec-WebSocket-Accept", "multiple values")
    if values[0] != accept_key(key):
        raise InvalidHeaderValue("Sec-WebSocket-Accept", values[0])
