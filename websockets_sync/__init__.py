"""websockets_sync: WebSocket client and server on blocking sockets and threads.

The synchronous API lives here; the asyncio facade is
:mod:`websockets_sync.asyncio`, loaded on first use.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from . import exceptions
from .client import WebSocketClientProtocol, connect
from .exceptions import *  # noqa: F403 - the hierarchy, listed in exceptions.__all__
from .protocol import PongWaiter, WebSocketCommonProtocol
from .sansio.frames import Close, CloseCode
from .sansio.headers import Headers
from .server import WebSocketServer, WebSocketServerProtocol, serve
from .version import version as __version__

__all__ = [
    *exceptions.__all__,
    "Close",
    "CloseCode",
    "Headers",
    "PongWaiter",
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
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
