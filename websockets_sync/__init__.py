"""websockets_sync: WebSocket client and server on blocking sockets and threads.

The synchronous API lives here; the asyncio facade is
:mod:`websockets_sync.asyncio`, loaded on first use.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from .client import WebSocketClientProtocol, connect
from .exceptions import (
    AbortHandshake,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidState,
    InvalidStatusCode,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
    WebSocketException,
)
from .protocol import PongWaiter, WebSocketCommonProtocol
from .sansio.frames import Close, CloseCode
from .sansio.headers import Headers
from .server import WebSocketServer, WebSocketServerProtocol, serve
from .version import version as __version__

__all__ = [
    "AbortHandshake",
    "Close",
    "CloseCode",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DuplicateParameter",
    "Headers",
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
    "PongWaiter",
    "ProtocolError",
    "SecurityError",
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
    "WebSocketException",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "__version__",
    "connect",
    "serve",
]

# Nothing is printed unless the application configures logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "asyncio":
        return importlib.import_module(".asyncio", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
