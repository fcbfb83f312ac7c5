"""The asyncio face of a connection: coroutines over the threaded core.

Every protocol decision stays in :mod:`websockets_sync.protocol`; this module
only turns waiting into awaiting, through :mod:`.bridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any

from ..exceptions import ConnectionClosed, ConnectionClosedOK
from ..protocol import Data, FragmentWriter
from ..protocol import WebSocketCommonProtocol as SyncConnection
from ..sansio.frames import CloseCode
from ..sansio.headers import Headers
from ..sansio.protocol import State
from . import bridge

__all__ = ["WebSocketCommonProtocol"]


class WebSocketCommonProtocol:
    """A WebSocket connection for asyncio code, client or server.

    It wraps the synchronous connection of the core, :attr:`connection`, and
    has the same attributes; its methods are coroutines. Waiting for messages,
    pongs and the close holds no thread.
    """

    def __init__(self, connection: SyncConnection) -> None:
        #: The synchronous connection that does the work.
        self.connection = connection
        # One message at a time among the coroutines sending on this connection.
        self._send_mutex = asyncio.Lock()
        # Reads the socket in the loop from the first recv() that finds nobody reading.
        self._reader = bridge.LoopReader(connection)

    # Attributes of the core connection.

    @property
    def id(self) -> Any:
        """Unique identifier of the connection."""
        return self.connection.id

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """Logger of the connection."""
        return self.connection.logger

    @property
    def open(self) -> bool:
        """Whether messages can be sent."""
        return self.connection.open

    @property
    def closed(self) -> bool:
        """Whether the TCP connection is gone."""
        return self.connection.closed

    @property
    def state(self) -> State | None:
        """The connection state, ``None`` during the opening handshake."""
        return self.connection.state

    @property
    def close_code(self) -> int | None:
        """The close code received, 1006 without one; ``None`` until closed."""
        return self.connection.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received; ``None`` until closed."""
        return self.connection.close_reason

    @property
    def path(self) -> str:
        """Path of the opening handshake request."""
        return self.connection.path

    @property
    def request_headers(self) -> Headers:
        """Headers of the opening handshake request."""
        return self.connection.request_headers

    @property
    def response_headers(self) -> Headers:
        """Headers of the opening handshake response."""
        return self.connection.response_headers

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, if any."""
        return self.connection.subprotocol

    @property
    def local_address(self) -> Any:
        """Address of this end of the connection."""
        return self.connection.local_address

    @property
    def remote_address(self) -> Any:
        """Address of the peer."""
        return self.connection.remote_address

    @property
    def latency(self) -> float:
        """Latency of the last ping, in seconds."""
        return self.connection.latency

    def __getattr__(self, name: str) -> Any:
        """The other public attributes of :attr:`connection`: options, socket, protocol...

        Its methods aren't delegated: the coroutines of this class replace them.
        """
        if name.startswith("_") or name == "connection":
            raise AttributeError(name)
        value = getattr(self.connection, name)
        if inspect.ismethod(value):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return value

    # Receiving.

    async def recv(self) -> Data:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Cancelling it loses no message: a message is taken off the queue only
        when it is returned.

        Raises:
            ConnectionClosed: The connection is closed and no message is left.
        """
        connection = self.connection
        reader = self._reader
        while True:
            message = connection.recv_nowait()
            if message is not None:
                reader.message_taken()
                return message
            if reader.active:
                await reader.wait()
            elif not reader.start():
                # A thread reads, or reading is over: it wakes the loop.
                await bridge.wait_for_event(connection)

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Yield messages until the connection closes normally.

        Raises:
            ConnectionClosedError: The connection closed with an error.
        """
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    # Sending.

    async def send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data],
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable or async iterable of ``str`` or of bytes-like objects is
        sent as one fragmented message. A send that would block waits in an
        executor thread, never in the event loop.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            TypeError: The message has an unsupported type.
            TimeoutError: ``write_timeout`` expired; the connection is dropped.
        """
        connection = self.connection
        if isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        if not isinstance(message, (str, bytes, bytearray, memoryview, Iterable, AsyncIterable)):
            raise TypeError("data must be str, bytes-like, or an iterable of them")
        async with self._send_mutex:
            if not connection._send_lock.acquire(blocking=False):
                # A thread using the sync face is sending a message.
                await bridge.run_blocking(connection._acquire_send_lock)
            try:
                if isinstance(message, (str, bytes, bytearray, memoryview)):
                    await self._drain(connection._queue_message(message))
                else:
                    await self._send_fragments(message)
            finally:
                connection._send_lock.release()

    async def _send_fragments(self, fragments: Iterable[Data] | AsyncIterable[Data]) -> None:
        writer = FragmentWriter(self.connection)
        try:
            if isinstance(fragments, AsyncIterable):
                async for fragment in fragments:
                    await self._drain(writer.add(fragment))
            else:
                for fragment in fragments:
                    await self._drain(writer.add(fragment))
            await self._drain(writer.finish())
        except BaseException:
            writer.abort()
            raise

    async def ping(self, data: Data | None = None) -> Awaitable[float]:
        """Send a Ping frame; return an awaitable that resolves to the latency.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ValueError: The data is over 125 bytes, or a ping with the same data
                awaits its pong.
        """
        waiter, target = self.connection._queue_ping(data)
        await self._drain(target)
        return bridge.wrap_future(waiter)

    async def pong(self, data: Data = b"") -> None:
        """Send an unsolicited Pong frame.

        Raises:
            ConnectionClosed: The connection is closed or closing.
        """
        await self._drain(self.connection._queue_pong(data))

    async def _drain(self, target: int) -> None:
        """Wait until the outgoing buffer is written up to ``target``, off the loop."""
        if target and not self.connection._is_flushed(target):
            await bridge.run_blocking(self.connection._flush, target, self.connection.write_timeout)

    # Closing.

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait for the TCP connection to close.

        Idempotent; bounded by ``close_timeout``.

        Raises:
            ProtocolError: ``code`` may not be sent on the wire.
        """
        connection = self.connection
        target = connection._start_closing(code, reason)
        connection._flush_nowait()
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await self._drain(target)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        while not self.connection.closed:
            await bridge.wait_for_event(self.connection, close_only=True)

    async def __aenter__(self) -> WebSocketCommonProtocol:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
