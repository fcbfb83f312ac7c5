"""The asyncio facade: the classic ``websockets`` API over the threaded core.

``import websockets_sync.asyncio as websockets`` and keep writing
``async def handler(websocket, path)``, ``await websockets.serve(...)`` and
``async with websockets.connect(...)``.
"""

from __future__ import annotations

from .. import exceptions
from ..exceptions import (
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
from ..sansio.headers import Headers
from ..version import version as __version__
from .client import WebSocketClientProtocol, connect
from .protocol import WebSocketCommonProtocol
from .server import WebSocketServer, WebSocketServerProtocol, serve

__all__ = [
    "AbortHandshake",
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
    "ProtocolError",
    "SecurityError",
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
    "WebSocketException",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "__version__",
    "connect",
    "exceptions",
    "serve",
]
