"""The synchronous client: :func:`connect` and :class:`WebSocketClientProtocol`."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from .defaults import MAX_LINE_LENGTH, MAX_NUM_HEADERS, OPEN_TIMEOUT
from .exceptions import InvalidMessage, InvalidURI
from .protocol import WebSocketCommonProtocol
from .sansio.client import USER_AGENT, ClientHandshake
from .sansio.extensions.base import ClientExtensionFactory
from .sansio.extensions.permessage_deflate import enable_client_permessage_deflate
from .sansio.headers import HeadersLike
from .sansio.http11 import Response
from .sansio.protocol import Protocol, Side
from .sansio.uri import WebSocketURI, parse_uri

__all__ = ["WebSocketClientProtocol", "connect"]

_HANDSHAKE_READ_SIZE = 65536


class WebSocketClientProtocol(WebSocketCommonProtocol):
    """The client end of a WebSocket connection.

    Subclass it and pass the subclass as ``create_protocol`` to :func:`connect`
    to customise the connection. See :class:`WebSocketCommonProtocol` for the
    connection API and for the options not listed here.

    Args:
        origin: Value of the Origin header, for servers that check it.
        extensions: Extension factories to offer, in order of preference.
        subprotocols: Subprotocols to offer, in order of preference.
        extra_headers: Headers added to the opening handshake request.
        user_agent_header: Value of the User-Agent header; ``None`` omits it.
        compression: ``"deflate"`` offers permessage-deflate; ``None`` doesn't.
        open_timeout: Seconds allowed for the TCP connect and the handshake.
        max_num_headers: Most header lines accepted in the response.
        max_line_length: Longest line accepted in the response.
    """

    is_client = True
    side_name = "client"

    def __init__(
        self,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        compression: str | None = "deflate",
        open_timeout: float | None = OPEN_TIMEOUT,
        max_num_headers: int = MAX_NUM_HEADERS,
        max_line_length: int = MAX_LINE_LENGTH,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        self.origin = origin
        self.available_extensions = list(extensions or ())
        self.available_subprotocols = list(subprotocols) if subprotocols is not None else None
        self.extra_headers = extra_headers
        self.user_agent_header = user_agent_header
        self.open_timeout = open_timeout
        self.max_num_headers = max_num_headers
        self.max_line_length = max_line_length

    def handshake(self, sock: socket.socket, wsuri: WebSocketURI) -> None:
        """Perform the opening handshake on a connected socket, then start reading.

        Raises:
            InvalidHandshake: The server's response is not a valid upgrade.
            TimeoutError: The handshake took longer than ``open_timeout``.
        """
        deadline = None if self.open_timeout is None else time.monotonic() + self.open_timeout
        handshake = ClientHandshake(
            wsuri,
            origin=self.origin,
            extensions=self.available_extensions,
            subprotocols=self.available_subprotocols,
            extra_headers=self.extra_headers,
            user_agent_header=self.user_agent_header,
            max_num_headers=self.max_num_headers,
            max_line_length=self.max_line_length,
        )
        request = handshake.request()
        self.path = request.path
        self.request_headers = request.headers
        _set_deadline(sock, deadline)
        self._send_handshake(sock, request.serialize())
        response = self._read_response(sock, handshake, deadline)
        self.response_headers = response.headers
        try:
            handshake.process_response(response)
        except Exception as exc:
            self.logger.info("! opening handshake failed: %s", exc)
            raise
        self.subprotocol = handshake.subprotocol
        self.logger.debug("= connection open")
        protocol = Protocol(
            Side.CLIENT,
            max_size=self.max_size,
            extensions=handshake.extensions,
            logger=self.logger,
        )
        self.connection_open(sock, protocol, handshake.leftover)

    def _read_response(
        self, sock: socket.socket, handshake: ClientHandshake, deadline: float | None
    ) -> Response:
        while True:
            _set_deadline(sock, deadline)
            data = sock.recv(_HANDSHAKE_READ_SIZE)
            response = handshake.receive_data(data) if data else handshake.receive_eof()
            if response is not None:
                return response
            if not data:
                raise InvalidMessage("connection closed during the opening handshake")


def connect(
    uri: str,
    *,
    create_protocol: Callable[..., WebSocketClientProtocol] | None = None,
    sock: socket.socket | None = None,
    **options: Any,
) -> WebSocketClientProtocol:
    """Open a WebSocket connection to ``uri`` and return it, ready to use.

    ``with connect(uri) as websocket:`` closes it on exit.

    Args:
        uri: A ``ws://`` URI, e.g. ``ws://localhost:8765/chat?room=1``.
        create_protocol: Class or factory of the connection object, called
            with the options; defaults to :class:`WebSocketClientProtocol`.
        sock: An already connected socket to use instead of opening one.
        options: Keyword options of :class:`WebSocketClientProtocol` and
            :class:`~websockets_sync.protocol.WebSocketCommonProtocol`.

    Raises:
        InvalidURI: ``uri`` is not a valid WebSocket URI.
        InvalidHandshake: The opening handshake failed.
        TimeoutError: The connection or the handshake timed out.
        OSError: The TCP connection failed.
    """
    wsuri = parse_uri(uri)
    if wsuri.secure:
        raise InvalidURI(uri, "wss:// (TLS) is not supported yet")
    factory = WebSocketClientProtocol if create_protocol is None else create_protocol
    websocket = factory(**options)
    timeout = websocket.open_timeout
    if sock is None:
        sock = socket.create_connection((wsuri.host, wsuri.port), timeout=timeout)
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        websocket.handshake(sock, wsuri)
    except TimeoutError as exc:
        sock.close()
        raise TimeoutError("timed out during the opening handshake") from exc
    except BaseException:
        sock.close()
        raise
    return websocket


def _set_deadline(sock: socket.socket, deadline: float | None) -> None:
    if deadline is None:
        sock.settimeout(None)
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out during the opening handshake")
    sock.settimeout(remaining)
