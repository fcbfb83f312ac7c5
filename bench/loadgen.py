"""The fixed load generator: the one client every server is measured with.

It runs in a process of its own and spends as little as possible per round
trip: each request is a masked frame built once and resent as is, and since
the server answers with one unmasked frame of a known size, a response is
read into a buffer of exactly that size and verified with one comparison
against the expected bytes. No frame parser runs at all, so server cost is
isolated. A connection has one request in flight (closed loop); with many
connections, one ``epoll`` loop drives them all.

Modes: ``ws`` speaks WebSocket (RFC 6455, no extension); ``raw`` sends the
same payloads with a 4-byte length prefix, for the raw TCP echo.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import time
from dataclasses import dataclass, field

from . import wire

__all__ = ["LoadGenerator", "VerificationError"]

_HANDSHAKE_LIMIT = 65536


class VerificationError(Exception):
    """The server answered with something other than the expected echo."""


@dataclass
class _Connection:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    view: memoryview | None = None
    received: int = 0
    sent: int = 0


class LoadGenerator:
    """Connections to one server, and closed-loop round trips over them.

    Args:
        port: The server's port on 127.0.0.1.
        mode: ``"ws"`` or ``"raw"``.
    """

    def __init__(self, port: int, mode: str = "ws") -> None:
        if mode not in ("ws", "raw"):
            raise ValueError(f"unknown mode: {mode}")
        self.port = port
        self.mode = mode
        self.connections: list[_Connection] = []
        self._request = b""
        self._expected = b""

    # Opening and closing.

    def open(self, count: int, concurrency: int = 100, timeout: float = 600.0) -> float:
        """Open ``count`` connections, ``concurrency`` at a time; return the seconds it took.

        Raises:
            TimeoutError: Not all open within ``timeout``.
            ConnectionError: A handshake was refused.
        """
        start = time.perf_counter()
        deadline = start + timeout
        pending: dict[int, tuple[socket.socket, bytearray]] = {}
        poller = select.epoll()
        started = 0
        try:
            while len(self.connections) < count:
                while started < count and len(pending) < concurrency:
                    sock = self._start_connect()
                    pending[sock.fileno()] = (sock, bytearray())
                    poller.register(sock, select.EPOLLOUT)
                    started += 1
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError(f"opened {len(self.connections)} of {count} connections")
                for fd, events in poller.poll(min(remaining, 1.0)):
                    sock, response = pending[fd]
                    if events & select.EPOLLOUT:
                        self._send_handshake(sock)
                        if self.mode == "ws":
                            poller.modify(fd, select.EPOLLIN)
                            continue
                    if self.mode == "raw" or self._receive_handshake(sock, response):
                        poller.unregister(fd)
                        del pending[fd]
                        sock.setblocking(True)
                        self.connections.append(_Connection(sock))
        except BaseException:
            for sock, _ in pending.values():
                sock.close()
            raise
        finally:
            poller.close()
        return time.perf_counter() - start

    def _start_connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", self.port))
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, errno.errorcode.get(code, "connect failed"))
        except BaseException:
            sock.close()
            raise
        return sock

    def _send_handshake(self, sock: socket.socket) -> None:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, "connect failed")
        if self.mode == "ws":
            # Small enough to go out in one non-blocking send.
            sock.send(wire.handshake_request(self.port))

    def _receive_handshake(self, sock: socket.socket, response: bytearray) -> bool:
        """Read the 101 response; return whether it is complete."""
        data = sock.recv(_HANDSHAKE_LIMIT)
        if not data:
            raise ConnectionError("connection closed during the opening handshake")
        response += data
        end = response.find(b"\r\n\r\n")
        if end < 0:
            if len(response) > _HANDSHAKE_LIMIT:
                raise ConnectionError("handshake response too long")
            return False
        if not response.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {bytes(response[:40])!r}")
        if end + 4 != len(response):
            raise ConnectionError("unexpected data after the handshake response")
        return True

    def close(self, timeout: float = 10.0) -> dict[str, float]:
        """Close every connection: a Close frame, then wait for the server's EOF (bounded).

        Returns the seconds it took to send every Close frame and to receive every EOF.
        """
        connections, self.connections = self.connections, []
        start = time.perf_counter()
        deadline = time.monotonic() + timeout
        try:
            if self.mode == "ws":
                close_frame = wire.client_frame(wire.CLOSE, (1000).to_bytes(2, "big"))
                for connection in connections:
                    with contextlib.suppress(OSError):
                        connection.sock.sendall(close_frame)
            else:
                for connection in connections:
                    with contextlib.suppress(OSError):
                        connection.sock.shutdown(socket.SHUT_WR)
            sent = time.perf_counter() - start
            self._wait_eof(connections, deadline)
            return {"sent": sent, "eof": time.perf_counter() - start}
        finally:
            for connection in connections:
                connection.sock.close()

    @staticmethod
    def _wait_eof(connections: list[_Connection], deadline: float) -> None:
        poller = select.epoll()
        try:
            live = {}
            for connection in connections:
                connection.sock.setblocking(False)
                poller.register(connection.sock, select.EPOLLIN)
                live[connection.sock.fileno()] = connection.sock
            while live and (remaining := deadline - time.monotonic()) > 0:
                for fd, _ in poller.poll(remaining):
                    try:
                        data = live[fd].recv(_HANDSHAKE_LIMIT)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        poller.unregister(fd)
                        del live[fd]
        finally:
            poller.close()

    # Round trips.

    def prepare(self, payload: bytes, *, text: bool = False) -> None:
        """Build the request and the expected response for ``payload`` once."""
        if self.mode == "raw":
            prefix = len(payload).to_bytes(4, "big")
            self._request = self._expected = prefix + payload
        else:
            opcode = wire.OP_TEXT if text else wire.OP_BINARY
            self._request = wire.client_frame(opcode, payload)
            self._expected = wire.server_frame(opcode, payload)
        for connection in self.connections:
            connection.buffer = bytearray(len(self._expected))
            connection.view = memoryview(connection.buffer)

    def run(self, duration: float) -> tuple[int, float]:
        """Round trips for ``duration`` seconds; return (completed, seconds).

        Raises:
            VerificationError: A response differs from the expected echo.
            ConnectionError: The server closed a connection.
        """
        if len(self.connections) == 1:
            return self._run_one(self.connections[0], duration)
        return self._run_many(duration)

    def _run_one(self, connection: _Connection, duration: float) -> tuple[int, float]:
        sock, view, buffer = connection.sock, connection.view, connection.buffer
        assert view is not None
        request, expected, size = self._request, self._expected, len(self._expected)
        count = 0
        start = time.perf_counter()
        deadline = start + duration
        while True:
            sock.sendall(request)
            received = 0
            while received < size:
                got = sock.recv_into(view[received:])
                if not got:
                    raise ConnectionError("server closed the connection")
                received += got
            if buffer != expected:
                raise VerificationError("response differs from the request")
            count += 1
            now = time.perf_counter()
            if now >= deadline:
                return count, now - start

    def _run_many(self, duration: float) -> tuple[int, float]:
        request, expected = memoryview(self._request), self._expected
        size, request_size = len(expected), len(request)
        connections = {c.sock.fileno(): c for c in self.connections}
        poller = select.epoll()
        count = 0
        try:
            for fd, connection in connections.items():
                connection.sock.setblocking(False)
                connection.received = 0
                connection.sent = 0
                poller.register(fd, select.EPOLLIN | select.EPOLLOUT)
            start = time.perf_counter()
            deadline = start + duration
            in_flight = len(connections)
            stopping = False
            elapsed = duration
            while in_flight:
                for fd, events in poller.poll(1.0):
                    c = connections[fd]
                    if events & select.EPOLLOUT and c.sent < request_size:
                        with contextlib.suppress(BlockingIOError):
                            c.sent += c.sock.send(request[c.sent :])
                        if c.sent == request_size:
                            poller.modify(fd, select.EPOLLIN)
                    if not events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                        continue
                    try:
                        got = c.sock.recv_into(c.view[c.received :])  # type: ignore[index]
                    except BlockingIOError:
                        continue
                    if not got:
                        raise ConnectionError("server closed a connection")
                    c.received += got
                    if c.received < size:
                        continue
                    if c.buffer != expected:
                        raise VerificationError("response differs from the request")
                    c.received = 0
                    now = time.perf_counter()
                    if now < deadline:
                        count += 1
                    elif not stopping:
                        stopping = True
                        elapsed = now - start
                    if stopping:
                        in_flight -= 1
                        poller.unregister(fd)
                        continue
                    c.sent = c.sock.send(request)
                    if c.sent < request_size:
                        poller.modify(fd, select.EPOLLIN | select.EPOLLOUT)
                if not stopping and time.perf_counter() >= deadline:
                    stopping = True
                    elapsed = time.perf_counter() - start
        finally:
            poller.close()
            request.release()
            for c in self.connections:
                c.sock.setblocking(True)
        return count, elapsed
