"""The asyncio server: :func:`serve`, :class:`WebSocketServer` and
:class:`WebSocketServerProtocol`.

The core's accept thread and per-connection threads do the opening
handshake; each handler then runs as a task in the loop that started the
server, and the connection's thread ends, leaving only its reader.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any

from .. import server as sync_server
from ..exceptions import ConnectionClosed
from ..sansio.frames import CloseCode
from ..sansio.headers import Headers
from . import bridge
from .protocol import WebSocketCommonProtocol

__all__ = ["WebSocketServer", "WebSocketServerProtocol", "serve"]


class WebSocketServerProtocol(WebSocketCommonProtocol):
    """The server end of a connection, for asyncio code.

    Takes the options of :class:`websockets_sync.server.WebSocketServerProtocol`.
    Subclass it and pass the subclass as ``create_protocol`` to :func:`serve`;
    :meth:`process_request` and :meth:`select_subprotocol` may be overridden
    by plain methods or coroutines.
    """

    def __init__(
        self,
        ws_handler: Callable[..., Awaitable[Any]] | None = None,
        ws_server: WebSocketServer | None = None,
        *,
        process_request: Callable[..., Any] | None = None,
        select_subprotocol: Callable[..., Any] | None = None,
        **options: Any,
    ) -> None:
        self.ws_handler = ws_handler
        self.ws_server = ws_server
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol
        super().__init__(_CoreServerProtocol(self, **options))

    def process_request(self, path: str, request_headers: Headers) -> Any:
        """Return ``None`` to go on with the handshake, or ``(status, headers, body)``.

        May be a coroutine. By default, calls the ``process_request`` option.
        """
        if self._process_request is not None:
            return self._process_request(path, request_headers)
        return None

    def select_subprotocol(
        self, client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
    ) -> Any:
        """Pick the subprotocol, or ``None``; may be a coroutine.

        By default, calls the ``select_subprotocol`` option, else takes the
        first of the server's subprotocols that the client offers.
        """
        if self._select_subprotocol is not None:
            return self._select_subprotocol(client_subprotocols, server_subprotocols)
        return sync_server.WebSocketServerProtocol.select_subprotocol(
            self.connection,  # type: ignore[arg-type]
            client_subprotocols,
            server_subprotocols,
        )


class _CoreServerProtocol(sync_server.WebSocketServerProtocol):
    """The core connection behind a facade, calling the facade's hooks."""

    def __init__(self, facade: WebSocketServerProtocol, **options: Any) -> None:
        super().__init__(facade.ws_handler, None, **options)
        self.facade = facade

    def process_request(self, path: str, request_headers: Headers) -> Any:
        return self._in_loop(self.facade.process_request(path, request_headers))

    def select_subprotocol(
        self, client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
    ) -> str | None:
        result = self.facade.select_subprotocol(client_subprotocols, server_subprotocols)
        return self._in_loop(result)  # type: ignore[no-any-return]

    def _in_loop(self, result: Any) -> Any:
        """Resolve a hook's result, running it in the server's loop if it is awaitable."""
        if not inspect.isawaitable(result):
            return result
        assert self.facade.ws_server is not None
        return bridge.run_in_loop(self.facade.ws_server.loop, result, self.open_timeout)


class _CoreServer(sync_server.WebSocketServer):
    """The core server behind a facade: handlers become tasks in the loop."""

    facade: WebSocketServer

    def _run_handler(self, websocket: sync_server.WebSocketServerProtocol) -> None:
        assert isinstance(websocket, _CoreServerProtocol)
        if not bridge.wake_soon(self.facade.loop, self.facade._start_handler, websocket.facade):
            websocket.close(CloseCode.GOING_AWAY, "event loop closed")
            self._forget(websocket)


class WebSocketServer:
    """A running server, as returned by ``await serve(...)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        #: The event loop where handlers run.
        self.loop = loop
        self._core: _CoreServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Task[None] | None = None
        self._closed = loop.create_future()

    @property
    def core(self) -> sync_server.WebSocketServer:
        """The threaded server that accepts connections and does the handshakes."""
        assert self._core is not None
        return self._core

    @property
    def sockets(self) -> list[Any]:
        """The listening sockets."""
        return self.core.sockets

    @property
    def connections(self) -> set[WebSocketServerProtocol]:
        """The open connections."""
        return {c.facade for c in self.core.connections if isinstance(c, _CoreServerProtocol)}

    def is_serving(self) -> bool:
        """Whether the server accepts connections."""
        return self._closing is None

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting, close connections with 1001, and wait for handlers, in the background.

        ``await wait_closed()`` tells when it is done.
        """
        if self._closing is None:
            self._closing = self.loop.create_task(self._close(close_connections))

    async def _close(self, close_connections: bool) -> None:
        core = self.core
        await bridge.run_blocking(core.close, close_connections)
        if self._tasks:
            timeout = core._close_timeout
            await asyncio.wait(self._tasks, timeout=None if timeout is None else 2 * timeout)
        for task in self._tasks:
            core.logger.warning("handler %s still running after server close", task.get_name())
        self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server is closed."""
        await asyncio.shield(self._closed)

    async def serve_forever(self) -> None:
        """Serve until the server is closed; cancelling it closes the server."""
        try:
            await self.wait_closed()
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def __aenter__(self) -> WebSocketServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def _start_handler(self, websocket: WebSocketServerProtocol) -> None:
        task = self.loop.create_task(self._handle(websocket))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, websocket: WebSocketServerProtocol) -> None:
        core = self.core
        handler = core.handler
        try:
            if core._handler_takes_path:
                await handler(websocket, websocket.path)
            else:
                await handler(websocket)
        except ConnectionClosed as exc:
            websocket.logger.debug("handler stopped: %s", exc)
            await websocket.close()
        except asyncio.CancelledError:
            websocket.connection.close_nowait(CloseCode.GOING_AWAY, "handler cancelled")
            raise
        except Exception:
            websocket.logger.error("connection handler failed", exc_info=True)
            await websocket.close(CloseCode.INTERNAL_ERROR, "internal error")
        else:
            await websocket.close()
        finally:
            core._forget(websocket.connection)  # type: ignore[arg-type]


class serve:
    """Start a WebSocket server whose handlers are coroutines.

    ``server = await serve(handler, host, port)``, ``async with serve(...) as
    server:``, or ``loop.run_until_complete(serve(...))``. The handler is
    ``async def handler(websocket, path)`` or ``(websocket)``. Takes the same
    options as :func:`websockets_sync.server.serve`.
    """

    def __init__(
        self,
        handler: Callable[..., Awaitable[Any]],
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        create_protocol: Callable[..., WebSocketServerProtocol] | None = None,
        **options: Any,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.create_protocol = create_protocol or WebSocketServerProtocol
        self.sock = options.pop("sock", None)
        self.backlog: int = options.pop("backlog", 100)
        self.reuse_port: bool = options.pop("reuse_port", False)
        self.options = options
        self.server: WebSocketServer | None = None

    def __await__(self) -> Generator[Any, None, WebSocketServer]:
        return self._start().__await__()

    async def _start(self) -> WebSocketServer:
        server = WebSocketServer(asyncio.get_running_loop())
        factory = self.create_protocol
        if isinstance(factory, type):
            # Check the options now, as the sync serve() does, rather than
            # in every connection thread.
            factory(self.handler, server, **self.options)

        def create_core_protocol(
            handler: Any, core_server: sync_server.WebSocketServer, **options: Any
        ) -> _CoreServerProtocol:
            websocket = factory(handler, server, **options).connection
            assert isinstance(websocket, _CoreServerProtocol)
            # The core server needs to know its connections (see _upgrading).
            websocket.ws_server = core_server
            return websocket

        core = await bridge.run_blocking(
            _CoreServer.create,
            self.handler,
            self.host,
            self.port,
            create_protocol=create_core_protocol,
            sock=self.sock,
            backlog=self.backlog,
            reuse_port=self.reuse_port,
            options=self.options,
        )
        core.facade = server
        server._core = core
        core.start()
        self.server = server
        return server

    async def __aenter__(self) -> WebSocketServer:
        return await self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
