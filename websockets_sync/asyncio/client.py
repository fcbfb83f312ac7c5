"""The asyncio client: :func:`connect` and :class:`WebSocketClientProtocol`."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from .. import client as sync_client
from . import bridge
from .protocol import WebSocketCommonProtocol

__all__ = ["WebSocketClientProtocol", "connect"]


class WebSocketClientProtocol(WebSocketCommonProtocol):
    """The client end of a connection, for asyncio code.

    Takes the options of :class:`websockets_sync.client.WebSocketClientProtocol`;
    subclass it and pass the subclass as ``create_protocol`` to :func:`connect`.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(sync_client.WebSocketClientProtocol(**options))


class connect:
    """Open a WebSocket connection to ``uri``.

    ``websocket = await connect(uri)``, or ``async with connect(uri) as
    websocket:`` to close it on exit. Takes the same options and raises the
    same errors as :func:`websockets_sync.client.connect`; the TCP connect and
    the opening handshake run in an executor thread.
    """

    def __init__(
        self,
        uri: str,
        *,
        create_protocol: Callable[..., WebSocketClientProtocol] | None = None,
        **options: Any,
    ) -> None:
        self.uri = uri
        self.create_protocol = create_protocol or WebSocketClientProtocol
        self.sock = options.pop("sock", None)
        self.options = options
        self.websocket: WebSocketClientProtocol | None = None

    def __await__(self) -> Generator[Any, None, WebSocketClientProtocol]:
        return self._connect().__await__()

    async def _connect(self) -> WebSocketClientProtocol:
        websocket = self.create_protocol(**self.options)
        await bridge.run_blocking(
            sync_client.connect,
            self.uri,
            create_protocol=lambda **_: websocket.connection,
            sock=self.sock,
        )
        self.websocket = websocket
        return websocket

    async def __aenter__(self) -> WebSocketClientProtocol:
        return await self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.websocket is not None
        await self.websocket.close()
