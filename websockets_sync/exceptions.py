"""The exceptions raised by websockets_sync, in one hierarchy.

.. code-block:: text

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK
    │   └── ConnectionClosedError
    ├── InvalidHandshake
    │   ├── SecurityError
    │   ├── InvalidMessage
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   └── InvalidUpgrade
    │   ├── InvalidStatusCode
    │   ├── NegotiationError
    │   │   ├── DuplicateParameter
    │   │   ├── InvalidParameterName
    │   │   └── InvalidParameterValue
    │   └── AbortHandshake
    ├── InvalidState
    ├── InvalidURI
    ├── PayloadTooBig
    └── ProtocolError

Timeouts raise the built-in :class:`TimeoutError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sansio.frames import Close
    from .sansio.headers import Headers

__all__ = [
    "AbortHandshake",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DuplicateParameter",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidMessage",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidState",
    "InvalidStatusCode",
    "InvalidURI",
    "InvalidUpgrade",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "SecurityError",
    "WebSocketException",
]


class WebSocketException(Exception):
    """Base class for every exception that websockets_sync raises on purpose."""


class ConnectionClosed(WebSocketException):
    """Raised when using a connection that is closed or closing.

    Attributes:
        rcvd: The Close frame received from the peer, if any.
        sent: The Close frame sent to the peer, if any.
        rcvd_then_sent: Whether the peer started the closing handshake; ``None``
            unless both frames were exchanged.
    """

    def __init__(
        self,
        rcvd: Close | None,
        sent: Close | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        # The message is formatted by __str__ when asked for: connections
        # raise these by the thousand while closing, and few are printed.
        super().__init__(rcvd, sent, rcvd_then_sent)

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """The close code received, or 1006 when no Close frame arrived."""
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """The close reason received, or ``""`` when no Close frame arrived."""
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed cleanly with code 1000 or 1001 (or 1005 meaning none)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed with an error code, or without a closing handshake."""


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class SecurityError(InvalidHandshake):
    """The peer's HTTP message exceeded a security limit (header count or line length)."""


class InvalidMessage(InvalidHandshake):
    """The peer's HTTP message was malformed or did not arrive."""


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing or has a wrong value.

    Attributes:
        name: The header's name.
        value: Its value, or ``None`` when it is missing.
    """

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """A header value could not be parsed.

    Attributes:
        error: What is wrong.
        header: The raw value.
        pos: The offset at which parsing failed.
    """

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        self.error = error
        self.header = header
        self.pos = pos
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """A header has a value that the handshake does not allow."""


class InvalidOrigin(InvalidHeader):
    """The Origin header is missing or not among the allowed origins."""

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header does not ask for a WebSocket upgrade."""


class InvalidStatusCode(InvalidHandshake):
    """The server answered the opening handshake with a status other than 101.

    Attributes:
        status_code: The HTTP status code.
        headers: The response headers.
        body: The response body, if any was read.
    """

    def __init__(self, status_code: int, headers: Headers, body: bytes = b"") -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.status_code}"


class NegotiationError(InvalidHandshake):
    """Subprotocol or extension negotiation failed."""


class DuplicateParameter(NegotiationError):
    """An extension parameter appears twice."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"duplicate parameter: {name}")


class InvalidParameterName(NegotiationError):
    """An extension parameter has an unknown name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"invalid parameter name: {name}")


class InvalidParameterValue(NegotiationError):
    """An extension parameter has an invalid value."""

    def __init__(self, name: str, value: str | None) -> None:
        self.name = name
        self.value = value
        super().__init__(f"invalid value for parameter {name}: {value}")


class AbortHandshake(InvalidHandshake):
    """Raised by a server hook to answer the handshake with a plain HTTP response.

    Attributes:
        status: The HTTP status code.
        headers: The response headers.
        body: The response body.
    """

    def __init__(
        self,
        status: int,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        super().__init__(f"HTTP {status}, {len(body)} bytes")


class InvalidState(WebSocketException):
    """An operation is not allowed in the connection's current state.

    The I/O layers turn it into :class:`ConnectionClosed` for the application.
    """


class InvalidURI(WebSocketException):
    """A URI is not a valid ``ws://`` or ``wss://`` URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg
        super().__init__(f"{uri} isn't a valid URI: {msg}")


class PayloadTooBig(WebSocketException):
    """A frame or message exceeded ``max_size``."""


class ProtocolError(WebSocketException):
    """The peer broke the WebSocket protocol."""
