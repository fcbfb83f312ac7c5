"""The asyncio facade: the classic ``websockets`` API over the threaded core.

``import websockets_sync.asyncio as websockets`` and keep writing
``async def handler(websocket, path)``, ``await websockets.serve(...)`` and
``async with websockets.connect(...)``.
"""

from __future__ import annotations

from .. import exceptions
from ..exceptions import *  # noqa: F403 - the hierarchy, listed in exceptions.__all__
from ..sansio.headers import Headers
from ..version import version as __version__
from .client import WebSocketClientProtocol, connect
from .protocol import WebSocketCommonProtocol
from .server import WebSocketServer, WebSocketServerProtocol, serve

__all__ = [
    *exceptions.__all__,
    "Headers",
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "__version__",
    "connect",
    "exceptions",
    "serve",
]
