"""The fixed fast server: the one server every client is measured against.

A frame-level echo on blocking sockets, one thread per connection, built on
:mod:`bench.wire` only. It reads a frame header, then the payload straight
into a buffer of the right size, unmasks it with C code when ``websockets``
is installed, and writes header and payload back with one ``sendmsg``. It
accepts no extension, answers pings and Close frames, and never fragments:
each data frame comes back as the same frame, unmasked, so fragmented
messages are echoed correctly too.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from . import wire

__all__ = ["FastServer", "RawEchoServer"]

_READ_SIZE = 65536
_MAX_REQUEST = 65536


class _Stream:
    """Buffered reads of exact sizes from a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def read_until(self, marker: bytes, limit: int) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > limit:
                raise ValueError("request too long")
            self._fill()
        end += len(marker)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    def read(self, size: int) -> bytes | bytearray:
        """Return exactly ``size`` bytes; large payloads are read in place, without copies."""
        buffered = len(self.buffer)
        if buffered >= size:
            data = bytes(self.buffer[:size])
            del self.buffer[:size]
            return data
        if size - buffered < _READ_SIZE:
            while len(self.buffer) < size:
                self._fill()
            return self.read(size)
        out = bytearray(size)
        out[:buffered] = self.buffer
        self.buffer.clear()
        with memoryview(out) as view:
            position = buffered
            while position < size:
                received = self.sock.recv_into(view[position:])
                if not received:
                    raise EOFError
                position += received
        return out

    def _fill(self) -> None:
        data = self.sock.recv(_READ_SIZE)
        if not data:
            raise EOFError
        self.buffer += data


def _send_all(sock: socket.socket, parts: list[bytes | bytearray]) -> None:
    """Write ``parts`` with as few system calls as the kernel allows."""
    views = [memoryview(part) for part in parts if part]
    try:
        while views:
            sent = sock.sendmsg(views)
            while views and sent >= len(views[0]):
                sent -= len(views.pop(0))
            if sent:
                views[0] = views[0][sent:]
    finally:
        for view in views:
            view.release()


class _Listener:
    """Accept loop on 127.0.0.1 with one daemon thread per connection."""

    def __init__(self, port: int = 0, backlog: int = 1024) -> None:
        self.socket = socket.create_server(("127.0.0.1", port), backlog=backlog)
        self.port: int = self.socket.getsockname()[1]
        self._closing = False
        self._lock = threading.Lock()  # protects _connections
        self._connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="accept", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                sock, _ = self.socket.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(sock)
            threading.Thread(target=self._run, args=(sock,), daemon=True).start()

    def _run(self, sock: socket.socket) -> None:
        try:
            self.handle(sock)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            with self._lock:
                self._connections.discard(sock)
            sock.close()

    def handle(self, sock: socket.socket) -> None:
        raise NotImplementedError


class FastServer(_Listener):
    """WebSocket echo, frame by frame."""

    def handle(self, sock: socket.socket) -> None:
        stream = _Stream(sock)
        request = stream.read_until(b"\r\n\r\n", _MAX_REQUEST)
        sock.sendall(wire.handshake_response(request))
        while True:
            first, second = stream.read(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(stream.read(2), "big")
            elif length == 127:
                length = int.from_bytes(stream.read(8), "big")
            key = bytes(stream.read(4)) if second & 0x80 else b""
            payload = stream.read(length) if length else b""
            if key and payload:
                payload = wire.apply_mask(payload, key)
            opcode = first & 0x0F
            if opcode == wire.PING:
                _send_all(sock, [wire.server_frame(wire.PONG, bytes(payload))])
            elif opcode == wire.CLOSE:
                # RFC 6455 §5.5.1: echo the code; the server closes TCP first.
                _send_all(sock, [wire.server_frame(wire.CLOSE, bytes(payload[:2]))])
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(_READ_SIZE):
                    pass
                return
            elif opcode != wire.PONG:
                header = wire.frame_header(opcode, length, fin=bool(first & 0x80))
                _send_all(sock, [header, payload])


class RawEchoServer(_Listener):
    """The limit: echo of messages framed by a 4-byte big-endian length, no WebSocket."""

    def handle(self, sock: socket.socket) -> None:
        stream = _Stream(sock)
        while True:
            prefix = stream.read(4)
            size = int.from_bytes(prefix, "big")
            _send_all(sock, [prefix, stream.read(size)])
