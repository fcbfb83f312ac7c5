"""The synchronous server: :func:`serve`, :class:`WebSocketServer` and
:class:`WebSocketServerProtocol`.

One accept thread per server; per connection, one thread that performs the
opening handshake and then runs the handler, plus the connection's reader.
"""

from __future__ import annotations

import contextlib
import http
import inspect
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

from .defaults import CLOSE_TIMEOUT, MAX_LINE_LENGTH, MAX_NUM_HEADERS, OPEN_TIMEOUT
from .exceptions import AbortHandshake, ConnectionClosed, InvalidHandshake
from .futex_hash import use_global_futex_hash
from .protocol import WebSocketCommonProtocol
from .sansio.extensions.base import ServerExtensionFactory
from .sansio.extensions.permessage_deflate import enable_server_permessage_deflate
from .sansio.frames import CloseCode
from .sansio.headers import Headers, HeadersLike
from .sansio.http11 import Request, Response
from .sansio.protocol import Protocol, Side
from .sansio.server import SERVER, ServerHandshake

__all__ = [
    "HTTPResponse",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "serve",
]

#: What ``process_request`` returns to answer with plain HTTP instead of upgrading.
HTTPResponse = tuple[http.HTTPStatus | int, HeadersLike, bytes]

_HANDSHAKE_READ_SIZE = 65536
# Connections accepted per wake-up of the accept loop, so that a flood of
# them never delays its check that the server is closing for long.
_ACCEPT_BATCH = 64
# How long a rejected client gets to read our HTTP error before we hang up.
_REJECT_LINGER = 1.0
# How often serve_forever() lets the main thread notice Ctrl-C.
_SIGNAL_CHECK_INTERVAL = 0.1

_logger = logging.getLogger("websockets_sync.server")


class WebSocketServerProtocol(WebSocketCommonProtocol):
    """The server end of a WebSocket connection.

    Subclass it and pass the subclass as ``create_protocol`` to :func:`serve`
    to customise the handshake with :meth:`process_request` and
    :meth:`select_subprotocol`. See :class:`WebSocketCommonProtocol` for the
    connection API and for the options not listed here.

    Args:
        ws_handler: The connection handler.
        ws_server: The server that accepted the connection.
        origins: Allowed values of the Origin header; include ``None`` to allow
            requests without one. ``None`` allows every origin.
        extensions: Extension factories, in order of preference.
        subprotocols: Supported subprotocols, in order of preference.
        extra_headers: Headers added to the handshake response, or a callable
            ``(path, request_headers)`` that returns them.
        server_header: Value of the Server header; ``None`` omits it.
        process_request: Callable used by the default :meth:`process_request`.
        select_subprotocol: Callable used by the default :meth:`select_subprotocol`.
        compression: ``"deflate"`` accepts permessage-deflate; ``None`` doesn't.
        open_timeout: Seconds allowed for the opening handshake.
        max_num_headers: Most header lines accepted in the request.
        max_line_length: Longest line accepted in the request.
    """

    is_client = False
    side_name = "server"

    def __init__(
        self,
        ws_handler: Callable[..., Any] | None = None,
        ws_server: WebSocketServer | None = None,
        *,
        origins: Sequence[str | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: HeadersLike | Callable[[str, Headers], HeadersLike] | None = None,
        server_header: str | None = SERVER,
        process_request: Callable[[str, Headers], HTTPResponse | None] | None = None,
        select_subprotocol: Callable[[Sequence[str], Sequence[str]], str | None] | None = None,
        compression: str | None = "deflate",
        open_timeout: float | None = OPEN_TIMEOUT,
        max_num_headers: int = MAX_NUM_HEADERS,
        max_line_length: int = MAX_LINE_LENGTH,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if compression == "deflate":
            extensions = enable_server_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        self.ws_handler = ws_handler
        self.ws_server = ws_server
        self.origins = origins
        self.available_extensions = list(extensions or ())
        self.available_subprotocols = list(subprotocols or ())
        self.extra_headers = extra_headers
        self.server_header = server_header
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol
        self.open_timeout = open_timeout
        self.max_num_headers = max_num_headers
        self.max_line_length = max_line_length

    def process_request(self, path: str, request_headers: Headers) -> HTTPResponse | None:
        """Intercept the opening handshake before it is validated.

        Return ``None`` to go on with the WebSocket handshake, or a
        ``(status, headers, body)`` tuple to answer with that HTTP response
        instead, e.g. for a health check or a failed authentication. Raising
        :class:`~websockets_sync.exceptions.AbortHandshake` does the same.

        By default, calls the ``process_request`` option if it was given.
        """
        if self._process_request is not None:
            return self._process_request(path, request_headers)
        return None

    def select_subprotocol(
        self, client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
    ) -> str | None:
        """Pick the subprotocol for this connection, or ``None`` for none.

        By default, calls the ``select_subprotocol`` option if it was given,
        else picks the first of the server's subprotocols that the client offers.
        """
        if self._select_subprotocol is not None:
            return self._select_subprotocol(client_subprotocols, server_subprotocols)
        for subprotocol in server_subprotocols:
            if subprotocol in client_subprotocols:
                return subprotocol
        return None

    def handshake(self, sock: socket.socket) -> bool:
        """Perform the opening handshake on an accepted socket.

        Return ``True`` when the connection is open and reading has started,
        ``False`` when the request was answered with plain HTTP (the socket is
        then closed).

        Raises:
            TimeoutError: The client didn't send a request within ``open_timeout``.
            OSError: The connection broke.
        """
        self._address_socket = sock  # hooks may ask for local_address
        deadline = None if self.open_timeout is None else time.monotonic() + self.open_timeout
        handshake = ServerHandshake(
            origins=self.origins,
            extensions=self.available_extensions,
            subprotocols=self.available_subprotocols,
            extra_headers=self.extra_headers,
            server_header=self.server_header,
            max_num_headers=self.max_num_headers,
            max_line_length=self.max_line_length,
        )
        try:
            request = self._read_request(sock, handshake, deadline)
        except InvalidHandshake as exc:
            self.logger.info("! invalid handshake request: %s", exc)
            self._reject(sock, handshake.reject_for(exc))
            return False
        if request is None:
            self.logger.info("! connection closed before the handshake request")
            return False
        self.path = request.path
        self.request_headers = request.headers
        try:
            response = self._early_response(request, handshake)
            if response is None:
                try:
                    response = handshake.accept(request, select_subprotocol=self.select_subprotocol)
                except InvalidHandshake as exc:
                    self.logger.info("! opening handshake failed: %s", exc)
                    response = handshake.reject_for(exc)
        except Exception as exc:
            # A bug in a hook (process_request, select_subprotocol,
            # extra_headers): log it like a handler bug, answer 500 without details.
            self.logger.error("opening handshake failed", exc_info=True)
            response = handshake.reject_for(exc)
        self.response_headers = response.headers
        if response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS:
            self._reject(sock, response)
            return False
        if self.ws_server is not None and not self.ws_server._upgrading(sock):
            return False  # the server is closing: it dropped the connection
        self._send_handshake(sock, response.serialize())
        self.subprotocol = handshake.subprotocol
        self.logger.debug("= connection open")
        protocol = Protocol(
            Side.SERVER,
            max_size=self.max_size,
            extensions=handshake.extensions,
            logger=self.logger,
        )
        self.connection_open(sock, protocol, handshake.leftover)
        return True

    def _read_request(
        self, sock: socket.socket, handshake: ServerHandshake, deadline: float | None
    ) -> Request | None:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out waiting for the handshake request")
            data = self._handshake_bytes_ready(sock)
            if data is None:
                sock.settimeout(remaining)
                data = sock.recv(_HANDSHAKE_READ_SIZE)
            if not data:
                handshake.receive_eof()
                return None
            request = handshake.receive_data(data)
            if request is not None:
                return request

    def _early_response(self, request: Request, handshake: ServerHandshake) -> Response | None:
        """Run the process_request hook; return its HTTP answer, if any."""
        try:
            answer = self.process_request(request.path, request.headers)
        except AbortHandshake as exc:
            return handshake.reject(exc.status, exc.body, exc.headers)
        if answer is None:
            return None
        status, headers, body = answer
        return handshake.reject(int(status), body, headers)

    def _reject(self, sock: socket.socket, response: Response) -> None:
        """Send an HTTP error response, let the client read it, and hang up."""
        self.response_headers = response.headers
        self.logger.info("! rejected handshake with HTTP %d", response.status_code)
        try:
            sock.settimeout(_REJECT_LINGER)
            sock.sendall(response.serialize())
            sock.shutdown(socket.SHUT_WR)
            # Wait for the client to close, so that unread request bytes don't
            # turn our close into a reset that could destroy the response.
            while sock.recv(_HANDSHAKE_READ_SIZE):
                pass
        except OSError:
            pass


class WebSocketServer:
    """A running WebSocket server, as returned by :func:`serve`.

    ``with serve(...) as server:`` closes it on exit.
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        sockets: list[socket.socket],
        create_protocol: Callable[..., WebSocketServerProtocol],
        options: dict[str, Any],
        logger: logging.Logger | None = None,
    ) -> None:
        self.handler = handler
        #: The listening sockets.
        self.sockets = sockets
        self.logger = _logger if logger is None else logger
        self._create_protocol = create_protocol
        self._options = options
        self._handler_takes_path = _takes_path(handler)
        self._close_timeout: float | None = options.get("close_timeout", CLOSE_TIMEOUT)

        # Protects the sets below and the closing flag.
        self._lock = threading.Lock()
        self._connections: set[WebSocketServerProtocol] = set()
        self._handshaking: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._closing = False
        self._closed = threading.Event()
        self._waker_r, self._waker_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="websockets_sync-accept", daemon=True
        )

    @property
    def connections(self) -> set[WebSocketServerProtocol]:
        """The open connections (a copy)."""
        with self._lock:
            return set(self._connections)

    @classmethod
    def create(
        cls,
        handler: Callable[..., Any],
        host: str | Sequence[str] | None,
        port: int | None,
        *,
        create_protocol: Callable[..., WebSocketServerProtocol] | None,
        sock: socket.socket | None,
        backlog: int,
        reuse_port: bool,
        options: dict[str, Any],
    ) -> Self:
        """Bind the listening sockets and build the server, not yet accepting."""
        factory = WebSocketServerProtocol if create_protocol is None else create_protocol
        sockets = [sock] if sock is not None else _listen(host, port or 0, backlog, reuse_port)
        for listener in sockets:
            listener.setblocking(False)
        return cls(handler, sockets, factory, options, options.get("logger"))

    def start(self) -> None:
        """Start accepting connections; :func:`serve` calls it."""
        for sock in self.sockets:
            self.logger.info("server listening on %s", _format_address(sock.getsockname()))
        # A thread per connection: many threads will sleep on locks.
        use_global_futex_hash()
        self._accept_thread.start()

    def serve_forever(self) -> None:
        """Block until :meth:`close` is called from another thread or a handler.

        In the main thread, Ctrl-C interrupts it with :exc:`KeyboardInterrupt`.
        """
        # Wake up now and then: when the kernel hands SIGINT to another thread,
        # Python runs the handler only once the main thread runs Python code,
        # which a wait without a timeout never does.
        while not self._closed.wait(_SIGNAL_CHECK_INTERVAL):
            pass

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting, close open connections with 1001, and wait for handlers.

        Waiting is bounded by ``close_timeout``; connections still open then
        are dropped. Idempotent and safe from any thread, handlers included.
        """
        with self._lock:
            first = not self._closing
            self._closing = True
            connections = list(self._connections)
            handshaking = list(self._handshaking)
            threads = [t for t in self._threads if t is not threading.current_thread()]
        if not first:
            self._closed.wait()
            return
        self.logger.info("server closing")
        self._waker_w.send(b"\0")
        if self._accept_thread is not threading.current_thread():
            self._accept_thread.join()
        for sock in self.sockets:
            sock.close()
        for sock in handshaking:
            _shutdown(sock)
        if close_connections:
            for websocket in connections:
                websocket.close_nowait(CloseCode.GOING_AWAY, "server shutting down")
        deadline = (
            None if self._close_timeout is None else time.monotonic() + 2 * self._close_timeout
        )
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self.logger.warning("handler %s still running after server close", thread.name)
        self._waker_r.close()
        self._waker_w.close()
        self.logger.info("server closed")
        self._closed.set()

    def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the server is closed.

        Raises:
            TimeoutError: Still open after ``timeout`` seconds.
        """
        if not self._closed.wait(timeout):
            raise TimeoutError("timed out waiting for the server to close")

    def __enter__(self) -> WebSocketServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Accepting.

    def _accept_loop(self) -> None:
        poller = select.poll()
        by_fd = {sock.fileno(): sock for sock in self.sockets}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        poller.register(self._waker_r, select.POLLIN)
        while not self._closing:
            for fd, _ in poller.poll():
                listener = by_fd.get(fd)
                if listener is not None:
                    self._accept_pending(listener)

    def _accept_pending(self, listener: socket.socket) -> None:
        """Accept the connections waiting on a listening socket, a batch at most.

        Clients connecting together find the next ones already waiting: each
        poll of the listener is then worth many connections.
        """
        for _ in range(_ACCEPT_BATCH):
            if self._closing:
                return
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                # Out of file descriptors, typically: wait for some to free up.
                self.logger.error("accept failed: %s", exc)
                time.sleep(0.1)
                return
            self._start_connection(sock, address)

    def _start_connection(self, sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(
            target=self._connection_thread,
            args=(sock, address),
            name=f"websockets_sync-handler-{_format_address(address)}",
            daemon=True,
        )
        with self._lock:
            if self._closing:
                sock.close()
                return
            self._threads.add(thread)
            self._handshaking.add(sock)
        thread.start()

    # One thread per connection: handshake, then handler.

    def _connection_thread(self, sock: socket.socket, address: Any) -> None:
        try:
            websocket = self._create_protocol(self.handler, self, **self._options)
            websocket.remote_address = address
            if self._handshake(websocket, sock):
                self._run_handler(websocket)
        except Exception:
            self.logger.exception("connection failed")
            sock.close()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _upgrading(self, sock: socket.socket) -> bool:
        """Called before the 101 response: from now on, :meth:`close` must not drop ``sock``.

        Return ``False`` if the server is closing: :meth:`close` has shut the
        socket down already. After the 101, a closing server sends 1001 instead.
        """
        with self._lock:
            if self._closing:
                return False
            self._handshaking.discard(sock)
            return True

    def _handshake(self, websocket: WebSocketServerProtocol, sock: socket.socket) -> bool:
        try:
            opened = websocket.handshake(sock)
        except (TimeoutError, OSError) as exc:
            websocket.logger.info("! opening handshake failed: %s", exc or type(exc).__name__)
            opened = False
        finally:
            with self._lock:
                self._handshaking.discard(sock)
                closing = self._closing
                if websocket.protocol is not None and not closing:
                    self._connections.add(websocket)
        if not opened:
            sock.close()
            return False
        if closing:
            websocket.close(CloseCode.GOING_AWAY, "server shutting down")
            return False
        return True

    def _run_handler(self, websocket: WebSocketServerProtocol) -> None:
        """Run the handler in the connection thread, then close and forget the connection.

        The asyncio facade overrides this to run the handler as a task instead.
        """
        try:
            if self._handler_takes_path:
                self.handler(websocket, websocket.path)
            else:
                self.handler(websocket)
        except ConnectionClosed as exc:
            websocket.logger.debug("handler stopped: %s", exc)
            websocket.close()
        except Exception:
            websocket.logger.error("connection handler failed", exc_info=True)
            websocket.close(CloseCode.INTERNAL_ERROR, "internal error")
        else:
            websocket.close()
        finally:
            self._forget(websocket)

    def _forget(self, websocket: WebSocketServerProtocol) -> None:
        """Remove a connection whose handler is done from :attr:`connections`."""
        with self._lock:
            self._connections.discard(websocket)


def serve(
    handler: Callable[..., Any],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    create_protocol: Callable[..., WebSocketServerProtocol] | None = None,
    sock: socket.socket | None = None,
    backlog: int = 100,
    reuse_port: bool = False,
    **options: Any,
) -> WebSocketServer:
    """Start a WebSocket server and return it, already listening.

    Each connection runs ``handler(websocket, path)`` or ``handler(websocket)``
    in a thread of its own; when the handler returns, the connection is closed
    with 1000, and when it raises, the error is logged and the connection is
    closed with 1011.

    Args:
        handler: The connection handler; ``functools.partial`` objects work too.
        host: Interface(s) to listen on; ``None`` or ``""`` for all interfaces.
        port: TCP port; 0 or ``None`` picks a free one (see ``server.sockets``).
        create_protocol: Class or factory of the connection object, called as
            ``create_protocol(handler, server, **options)``; defaults to
            :class:`WebSocketServerProtocol`.
        sock: A listening socket to use instead of creating one.
        backlog: Length of the kernel's accept queue.
        reuse_port: Set ``SO_REUSEPORT`` on the listening sockets.
        options: Keyword options of :class:`WebSocketServerProtocol` and
            :class:`~websockets_sync.protocol.WebSocketCommonProtocol`.

    Raises:
        OSError: The address can't be bound.
        TypeError: An option is unknown.
        ValueError: An option has an invalid value.
    """
    factory = WebSocketServerProtocol if create_protocol is None else create_protocol
    if isinstance(factory, type):
        # Check the options now, not in every connection thread: a typo would
        # otherwise give a server that drops every connection.
        factory(handler, None, **options)
    server = WebSocketServer.create(
        handler,
        host,
        port,
        create_protocol=create_protocol,
        sock=sock,
        backlog=backlog,
        reuse_port=reuse_port,
        options=options,
    )
    server.start()
    return server


def _listen(
    host: str | Sequence[str] | None, port: int, backlog: int, reuse_port: bool
) -> list[socket.socket]:
    """Bind a listening socket to every address of ``host``; one port for all."""
    hosts: list[str | None] = [host] if host is None or isinstance(host, str) else list(host)
    infos = []
    for name in hosts:
        infos += socket.getaddrinfo(
            name or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, type_, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                # Keep IPv4 on its own socket when both families are bound.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                # Every address listens on the port picked for the first one.
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _takes_path(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` accepts ``(websocket, path)`` rather than ``(websocket)``."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(None, None)
    except TypeError:
        return False
    return True


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
