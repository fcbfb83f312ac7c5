"""Default limits and timeouts, shared by the sync face and the asyncio facade.

Every value here is a keyword option of ``serve`` and ``connect``; ``None``
disables the corresponding limit or timeout.
"""

from __future__ import annotations

__all__ = [
    "CLOSE_TIMEOUT",
    "MAX_BODY_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "MAX_QUEUE",
    "MAX_SIZE",
    "OPEN_TIMEOUT",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "WRITE_TIMEOUT",
]

#: Largest message accepted, in bytes, after decompression (1009 beyond it).
MAX_SIZE: int | None = 2**20
#: Messages buffered before the reader thread stops reading from the socket.
MAX_QUEUE: int | None = 16
#: Seconds allowed for the TCP connect and the opening handshake.
OPEN_TIMEOUT: float | None = 10.0
#: Seconds allowed for the closing handshake before the TCP connection is dropped.
CLOSE_TIMEOUT: float | None = 10.0
#: Seconds between keepalive pings.
PING_INTERVAL: float | None = 20.0
#: Seconds to wait for the pong to a keepalive ping before failing with 1011.
PING_TIMEOUT: float | None = 20.0
#: Seconds a send may wait for a peer that doesn't read before the connection is dropped.
WRITE_TIMEOUT: float | None = None
#: Most header lines accepted in an HTTP request or response.
MAX_NUM_HEADERS: int = 128
#: Longest HTTP line accepted, in bytes, CRLF excluded.
MAX_LINE_LENGTH: int = 8192
#: Largest body read from an HTTP error response during the opening handshake.
MAX_BODY_SIZE: int = 2**20
