"""The synchronous connection: a socket, its reader thread and its message queue.

Threads and locks (see ``docs/topics/threads.rst``):

- One thread at a time holds the read turn: it reads the socket, feeds the
  sans-I/O :class:`~websockets_sync.sansio.protocol.Protocol`, queues the
  messages for :meth:`~WebSocketCommonProtocol.recv` and answers pings and
  Close frames. That's the reader thread, except while recv() callers keep
  asking for messages: once the reader thread has handed one to a waiting
  caller, it parks and callers read for themselves, which saves two thread
  switches per message. It reads again when callers stop for a while, or at
  once when a ping, the closing handshake or wait_closed() needs it.
- The reader thread closes the socket when it exits; its exit defines "closed".
- Any thread may send. Bytes to write are appended to one outgoing buffer
  under the connection lock, in order, and whichever thread finds nobody
  writing becomes the writer until the buffer is empty. The socket write
  itself happens outside the lock, so a peer that stops reading blocks the
  sending threads only: ``close()``, keepalive and the reader go on.
- Keepalive pings and timeouts run on the process-wide timer thread of
  :mod:`websockets_sync.scheduler`; its callbacks never block.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import random
import select
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from . import idle
from .defaults import (
    CLOSE_TIMEOUT,
    MAX_QUEUE,
    MAX_SIZE,
    PING_INTERVAL,
    PING_TIMEOUT,
    WRITE_TIMEOUT,
)
from .exceptions import ConnectionClosed, ConnectionClosedOK, InvalidState
from .lazy_sync import LazyCondition, LazyEvent
from .sansio import accelerators
from .sansio.frames import OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT, CloseCode, Frame, Opcode
from .sansio.headers import Headers
from .sansio.protocol import OPEN, Failure, Protocol, State
from .scheduler import TimerHandle, call_later

__all__ = ["Data", "FragmentWriter", "PongWaiter", "WebSocketCommonProtocol"]

#: A message as the application sees it: text or binary.
Data = str | bytes

_logger = logging.getLogger("websockets_sync.protocol")

_RECV_BUFFER_MIN = 1024
_RECV_BUFFER_MAX = 256 * 1024
# recv() callers read the socket themselves; a reader thread starts once
# nobody read for that long, so that pings and Close frames are answered.
_PARK_PERIOD = 0.25
# Plain ints: flags of the socket module are IntFlag members, slow to combine.
_MSG_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))
# Reading the rest of a large frame wakes the reader once, not once per segment.
_MSG_WAITALL = int(getattr(socket, "MSG_WAITALL", 0))
# A send followed at once by the EOF holds its last segment for the FIN (Linux).
_MSG_MORE = int(getattr(socket, "MSG_MORE", 0))
# Idle sockets wait in one poller for the process (see the idle module).
_IDLE_POLLER = idle.available()
# Buffers per sendmsg() call: the system's limit on an I/O vector.
_IOV_MAX: int = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16
# Buffers up to this size are sent and read without releasing the GIL, where
# the C accelerator is built (see _nowait.c): such a call takes microseconds,
# less than handing the GIL to another thread and waiting to get it back.
# Larger ones release it, so that other threads run while the kernel copies.
_KEEPING_GIL_MAX = 16 * 1024
# struct linger: whether to linger, and for how many seconds.
_LINGER = struct.Struct("ii")
_LINGER_SIZE = _LINGER.size
# A first read of the peer's handshake: a request or response with its
# headers usually fits; a longer one takes more reads.
_HANDSHAKE_CHUNK = 4096

# Held, process-wide, while a reader thread turns the bytes it received into
# events and updates its connection: pure Python work, never any I/O or
# waiting. When thousands of connections wake up at once, typically every
# client closing together, CPython would otherwise have thousands of threads
# waiting for the GIL, and each waiter wakes up every switch interval (5 ms)
# to ask for it: the process then spends its time waking threads instead of
# running them. A thread blocked on this lock sleeps until its turn comes.
_dispatch_turn = threading.Lock()

# Connection ids only tell connections apart: they come from a generator of
# the library's own, seeded from os.urandom() once and again in forked
# children, because uuid4() calls os.urandom() for each, and that releases
# the GIL: a thread switch for every connection a busy server opens.
_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)


def _new_id() -> uuid.UUID:
    """A random (version 4) UUID."""
    return uuid.UUID(int=_ids.getrandbits(128), version=4)


class PongWaiter(concurrent.futures.Future[float]):
    """Resolves to the round-trip latency, in seconds, when the pong arrives.

    It is a :class:`concurrent.futures.Future`, so the asyncio facade can wrap
    it; :meth:`wait` is the short spelling of :meth:`result`.
    """

    def wait(self, timeout: float | None = None) -> float:
        """Block until the pong arrives and return the latency.

        Raises:
            TimeoutError: No pong within ``timeout`` seconds.
            ConnectionClosed: The connection closed before the pong arrived.
        """
        return self.result(timeout)


class _ConnectionLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every record with the connection's short id."""

    def __init__(self, logger: logging.Logger, extra: dict[str, object]) -> None:
        super().__init__(logger, extra)
        # The logger's own method: the adapter's adds a Python call to every
        # check that guards a debug message on the hot paths.
        self.isEnabledFor = logger.isEnabledFor  # type: ignore[method-assign]

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self.extra['id']}] {msg}", kwargs  # type: ignore[index]


class WebSocketCommonProtocol:
    """A WebSocket connection, client or server, once the opening handshake is done.

    Don't create it directly: :func:`~websockets_sync.client.connect` and
    :func:`~websockets_sync.server.serve` do, through their ``create_protocol``
    option. Every method is thread-safe.

    Args:
        ping_interval: Seconds between keepalive pings; ``None`` disables them.
        ping_timeout: Seconds to wait for a keepalive pong before failing the
            connection with 1011; ``None`` waits forever.
        close_timeout: Seconds allowed for the closing handshake and the TCP
            close; ``None`` waits forever.
        max_size: Largest incoming message in bytes; ``None`` for no limit.
        max_queue: Messages buffered before reading stops; ``None`` for no limit.
        write_timeout: Seconds a send may wait for a peer that doesn't read
            before the connection is dropped; ``None`` waits forever.
        logger: Logger for this connection; defaults to ``websockets_sync.client``
            or ``websockets_sync.server``.
    """

    is_client: bool
    side_name: str

    def __init__(
        self,
        *,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        max_size: int | None = MAX_SIZE,
        max_queue: int | None = MAX_QUEUE,
        write_timeout: float | None = WRITE_TIMEOUT,
        logger: logging.Logger | None = None,
    ) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.max_queue = max_queue
        self.write_timeout = write_timeout

        #: Unique identifier of the connection, useful in logs.
        self.id: uuid.UUID = _new_id()
        if logger is None:
            logger = logging.getLogger(f"websockets_sync.{self.side_name}")
        self.logger: logging.LoggerAdapter[logging.Logger] = _ConnectionLogger(
            logger, {"id": str(self.id)[:8], "websocket": self}
        )

        #: Path of the request (server) or resource name requested (client).
        self.path: str = ""
        #: Headers of the opening handshake request.
        self.request_headers: Headers = Headers()
        #: Headers of the opening handshake response.
        self.response_headers: Headers = Headers()
        #: The subprotocol negotiated, if any.
        self.subprotocol: str | None = None
        #: Latency of the last keepalive or application ping, in seconds.
        self.latency: float = 0.0
        # Addresses are read from the socket when first asked for: getsockname()
        # releases the GIL, a thread switch for every connection opened.
        self._local_address: Any = None
        self._remote_address: Any = None
        self._address_socket: socket.socket | None = None

        self.socket: socket.socket | None = None
        self.protocol: Protocol | None = None
        # The non-blocking socket calls for small buffers; see connection_open.
        self._calls = _RELEASING_GIL

        # Protects the sans-I/O protocol, the message queue, the outgoing
        # buffer, the pong waiters and the timers. Never held during socket
        # I/O or while calling application code.
        self._lock = threading.Lock()
        # Signalled when the reader thread, paused on a full queue, may go on.
        self._reader_resume = LazyCondition(self._lock)
        # Signalled when the writer finishes a batch or gives up.
        self._write_done = LazyCondition(self._lock)
        # Held by a thread for the whole of a data message it sends, so that
        # fragments of two messages never interleave.
        self._send_lock = threading.Lock()

        # Messages, and the failure that came after them, if any.
        self._messages: deque[Data | Failure] = deque()
        self._wakers: list[Callable[[], None]] = []
        self._close_wakers: list[Callable[[], None]] = []
        self._pending: list[bytes] = []
        self._queued = 0  # bytes handed to the outgoing buffer, ever
        self._written = 0  # bytes written to the socket, ever
        self._writing = False
        self._write_waiters = 0  # threads waiting for the writer
        self._reader_paused = False  # the reader waits for room in the queue
        # Reading: who holds the socket's read side, recv() callers or a
        # reader thread started when they don't read (see _take_read_turn).
        self._read_buffer: bytearray | None = None  # allocated when bytes first arrive
        self._leftover = b""  # bytes that came with the handshake, not parsed yet
        self._reading = False  # somebody is reading the socket and parsing
        self._caller_reading = False  # ... and it's a recv() caller
        self._caller_reads = 0  # reads by recv() callers, ever
        self._caller_waited = False  # a recv() caller waited for the reader thread
        self._reader_running = False  # a reader thread reads, or is about to
        self._reader_wanted = False  # somebody waits for the close: keep reading
        self._read_ended: OSError | bool = False  # a caller met the end of the stream
        self._idle_timer: TimerHandle | None = None  # starts a reader if nobody reads
        # Set while an event loop holds the read turn (the asyncio facade):
        # called when frames are needed; False if the loop can't read any more.
        self._loop_reader_wanted: Callable[[], bool] | None = None
        self._idle_seen = 0  # _caller_reads when _idle_timer was armed
        self._write_error: OSError | None = None
        self._aborted = False
        self._pings: dict[bytes, tuple[PongWaiter, float]] = {}
        self._keepalive_timer: TimerHandle | None = None
        self._pong_timer: TimerHandle | None = None
        self._close_timer: TimerHandle | None = None
        self._failure: Failure | None = None
        self._reader: threading.Thread | None = None
        self._closed = LazyEvent()

    # Public attributes.

    @property
    def open(self) -> bool:
        """Whether messages can be sent: the connection is open and not closing."""
        return self.protocol is not None and self.protocol.state is OPEN

    @property
    def local_address(self) -> Any:
        """Address of this end of the connection.

        ``None`` if the socket was closed before anybody asked for it.
        """
        if self._local_address is None:
            self._local_address = self._read_address(socket.socket.getsockname)
        return self._local_address

    @local_address.setter
    def local_address(self, address: Any) -> None:
        self._local_address = address

    @property
    def remote_address(self) -> Any:
        """Address of the peer.

        ``None`` if the socket was closed before anybody asked for it.
        """
        if self._remote_address is None:
            self._remote_address = self._read_address(socket.socket.getpeername)
        return self._remote_address

    @remote_address.setter
    def remote_address(self, address: Any) -> None:
        self._remote_address = address

    def _read_address(self, method: Callable[[socket.socket], Any]) -> Any:
        sock = self._address_socket
        if sock is None:
            return None
        try:
            return method(sock)
        except OSError:  # closed already
            return None

    @property
    def closed(self) -> bool:
        """Whether the connection is closed: the TCP connection is gone."""
        return self._closed.is_set()

    @property
    def state(self) -> State | None:
        """The connection state, or ``None`` during the opening handshake."""
        return None if self.protocol is None else self.protocol.state

    @property
    def close_code(self) -> int | None:
        """The close code received, 1006 without one; ``None`` until closed."""
        if not self.closed or self.protocol is None:
            return None
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received; ``None`` until closed."""
        if not self.closed or self.protocol is None:
            return None
        return self.protocol.close_reason

    # Receiving.

    def recv(self, timeout: float | None = None) -> Data:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Messages that arrived before the connection closed are returned first;
        then every call raises.

        Raises:
            ConnectionClosed: The connection is closed and no message is left.
            TimeoutError: No message within ``timeout`` seconds.
        """
        message = self._receive(timeout)
        if isinstance(message, ConnectionClosed):
            raise message
        return message

    def _receive(self, timeout: float | None) -> Data | ConnectionClosed:
        """The next message, or the exception that tells why there won't be any."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                message = self._pop_message()
                if message is not None:
                    return message
                if self._closed.is_set():
                    return self._close_exc()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("timed out waiting for a message")
                # Nobody is reading: read in this thread, no handoff.
                read = self._claim_read_turn()
                if not read:
                    # The reader releases this lock once it has let go of
                    # its own: waking up, this thread finds both free.
                    wake = threading.Lock()
                    wake.acquire()
                    self._add_message_waker(wake.release)
            if read:
                self._read_as_caller(deadline)
            elif not wake.acquire(timeout=-1 if remaining is None else remaining):
                self.remove_waker(wake.release)

    def recv_nowait(self) -> Data | None:
        """Return the next message if one is queued, else ``None``.

        Raises:
            ConnectionClosed: The connection is closed and no message is left.
        """
        with self._lock:
            message = self._pop_message()
            if message is None and self._closed.is_set():
                raise self._close_exc()
            return message

    def __iter__(self) -> Iterator[Data]:
        """Yield messages until the connection closes normally.

        Raises:
            ConnectionClosedError: The connection closed with an error.
        """
        while True:
            # Not recv(): raising ConnectionClosedOK only to catch it here
            # costs about 2% of what closing a connection takes.
            message = self._receive(None)
            if isinstance(message, ConnectionClosed):
                if isinstance(message, ConnectionClosedOK):
                    return
                raise message
            yield message

    def add_waker(self, waker: Callable[[], None], *, close_only: bool = False) -> None:
        """Call ``waker`` once, from the reader thread, at the next message or at the close.

        With ``close_only``, only the close counts. It is called at once if the
        awaited condition already holds. The asyncio facade uses this to wait
        without holding a thread; the callback must not block.
        """
        with self._lock:
            if self._closed.is_set() or (self._messages and not close_only):
                ready = True
            elif close_only:
                ready = False
                self._close_wakers.append(waker)
                self._want_reader_until_closed()
            else:
                ready = False
                self._add_message_waker(waker)
        if ready:
            waker()

    def _add_message_waker(self, waker: Callable[[], None]) -> None:
        """Register a recv() waiting for the next message (lock held).

        The reader thread hands it the message, then parks: that recv(), or
        the next one, reads for itself.
        """
        self._wakers.append(waker)
        self._caller_waited = True

    def _want_reader_until_closed(self) -> None:
        """Keep reading until the close: somebody waits for it (lock held)."""
        self._reader_wanted = True
        self._wake_reader()

    def remove_waker(self, waker: Callable[[], None]) -> None:
        """Forget a waker added with :meth:`add_waker`, if it hasn't run."""
        with self._lock:
            for wakers in (self._wakers, self._close_wakers):
                with contextlib.suppress(ValueError):
                    wakers.remove(waker)

    # Sending.

    def send(self, message: Data | bytearray | memoryview | Iterable[Data]) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable of ``str`` or of bytes-like objects is sent as one
        fragmented message, one frame per item; frames of messages sent by
        other threads never come in between.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            TypeError: The message has an unsupported type.
            TimeoutError: ``write_timeout`` expired; the connection is dropped.
        """
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            if not self._send_lock.acquire(blocking=False):
                self._acquire_send_lock()
            try:
                self._flush(self._queue_message(message), self.write_timeout)
            finally:
                self._send_lock.release()
        elif isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            self._acquire_send_lock()
            try:
                writer = FragmentWriter(self)
                try:
                    for fragment in message:
                        self._flush(writer.add(fragment), self.write_timeout)
                    self._flush(writer.finish(), self.write_timeout)
                except BaseException:
                    writer.abort()
                    raise
            finally:
                self._send_lock.release()
        else:
            raise TypeError("data must be str, bytes-like, or an iterable of them")

    def ping(self, data: Data | None = None) -> PongWaiter:
        """Send a Ping frame; the waiter resolves to the latency when the pong arrives.

        ``data`` defaults to four random bytes. A pong acknowledges its ping
        and every earlier one (RFC 6455 §5.5.3).

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ValueError: The data is over 125 bytes, or a ping with the same data
                awaits its pong.
        """
        waiter, target = self._queue_ping(data)
        self._flush(target, self.write_timeout)
        return waiter

    def pong(self, data: Data = b"") -> None:
        """Send an unsolicited Pong frame, e.g. as a unidirectional heartbeat.

        Raises:
            ConnectionClosed: The connection is closed or closing.
        """
        self._flush(self._queue_pong(data), self.write_timeout)

    # Closing.

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait for the TCP connection to close.

        Idempotent and safe from any thread. Bounded by ``close_timeout``: a
        peer that doesn't answer has its TCP connection dropped.

        Raises:
            ProtocolError: ``code`` may not be sent on the wire.
        """
        if self._closed.is_set():
            # Nothing left to do: the usual case, once a handler's loop is over.
            return
        target = self._start_closing(code, reason)
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            self._flush(target, self.close_timeout)
        self._wait_reader_exit(self.close_timeout)

    def close_nowait(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake without waiting for it.

        The connection is dropped if it isn't closed within ``close_timeout``.
        :meth:`wait_closed` tells when it is closed.
        """
        self._start_closing(code, reason)
        self._flush_nowait()

    def _start_closing(self, code: int, reason: str) -> int:
        """Queue a Close frame if the connection is open; return the flush target."""
        with self._lock:
            protocol = self.protocol
            if protocol is not None and protocol.state is OPEN:
                if self._failure is not None:
                    # A protocol error is pending behind queued messages: the
                    # application is done with them, so fail with its code.
                    self._fail(self._failure.code, self._failure.reason)
                else:
                    protocol.send_close(code, reason)
                    self._queue_output()
                    self._arm_close_timer()
                # Somebody must read on, to receive the peer's Close frame.
                self._wake_reader()
            return self._queued

    def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the connection is closed.

        Raises:
            TimeoutError: Still open after ``timeout`` seconds.
        """
        if not self._closed.is_set():
            with self._lock:
                self._want_reader_until_closed()
        if not self._closed.wait(timeout):
            raise TimeoutError("timed out waiting for the connection to close")

    def __enter__(self) -> WebSocketCommonProtocol:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Starting, once the opening handshake is done.

    def connection_open(
        self, sock: socket.socket, protocol: Protocol, leftover: bytes = b""
    ) -> None:
        """Attach the socket and the sans-I/O protocol: the connection is open.

        ``leftover`` holds bytes that arrived right after the handshake. The
        first recv() reads the socket in its own thread; a reader thread
        starts only if nobody reads for a while (see :meth:`_take_read_turn`).
        """
        if sock.gettimeout() is not None:
            sock.settimeout(None)
        if _IDLE_POLLER:
            # A blocking read gives up after IDLE_AFTER without bytes: see _read_once.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, idle.receive_timeout())
        self.socket = self._address_socket = sock
        self._calls = _socket_calls(sock)
        self._leftover = leftover
        with self._lock:
            self.protocol = protocol
            self._arm_keepalive()
            self._arm_idle_check()

    # Reader thread.

    def _read_loop(self) -> None:
        sock = self.socket
        assert sock is not None
        turn = "read"
        try:
            while (turn := self._take_read_turn()) == "read":
                go_on = False
                try:
                    go_on = self._read_once(sock, 0, _MSG_WAITALL)
                finally:
                    self._release_read_turn(go_on, None, caller=False)
        except OSError as exc:
            if not self._aborted:
                self.logger.debug("! connection error: %s", exc)
        except Exception:  # pragma: no cover - a bug in this library
            self.logger.exception("! reader thread failed")
        finally:
            if turn != "park":
                self._connection_lost()

    def _take_read_turn(self) -> Literal["read", "park", "end"]:
        """Decide, in the reader thread, whether to read, to exit, or to close.

        recv() callers read the socket themselves (see :meth:`_read_as_caller`),
        which saves a thread switch per message. The reader thread runs only
        while nobody calls recv(), or while something needs the peer's frames
        promptly (a ping, the closing handshake); once a recv() caller has
        waited for it and got its message, it exits ("park"). It starts again
        when needed: see :meth:`_wake_reader` and :meth:`_idle_check`.
        """
        with self._lock:
            if self._read_ended:
                return "end"
            if self._caller_reading or (
                self._caller_waited and not self._wakers and self._may_park()
            ):
                self._caller_waited = False
                self._reader_running = False
                self._arm_idle_check()
                return "park"
            self._reading = True
            return "read"

    def _wake_reader(self) -> None:
        """Have somebody read the peer's frames now (lock held).

        A reader paused on a full queue reads on, if it may; if nobody reads,
        or only an event loop that is gone, a reader thread starts.
        """
        self._reader_resume.notify_all()
        loop_reader_wanted = self._loop_reader_wanted
        if loop_reader_wanted is not None and not loop_reader_wanted():
            self._loop_reader_wanted = None
            self._reading = self._caller_reading = False
        if not (self._reader_running or self._reading or self._read_ended or self._closed.is_set()):
            self._start_reader()

    def _start_reader(self) -> None:
        """Start a reader thread (lock held)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._reader = threading.Thread(
            target=self._read_loop,
            name=f"websockets_sync-reader-{str(self.id)[:8]}",
            daemon=True,
        )
        self._reader_running = True
        try:
            self._reader.start()
        except BaseException:
            self._reader_running = False
            raise

    def _arm_idle_check(self) -> None:
        """Start a reader thread if nobody reads within _PARK_PERIOD (lock held)."""
        if self._idle_timer is None and not (self._reader_running or self._closed.is_set()):
            self._idle_seen = self._caller_reads
            self._idle_timer = call_later(_PARK_PERIOD, self._idle_check)

    def _idle_check(self) -> None:
        """Timer callback: start a reader thread if no recv() read for a while."""
        with self._lock:
            self._idle_timer = None
            if self._reader_running or self._reading or self._read_ended or self._closed.is_set():
                # Whoever reads arms the timer again when it stops.
                return
            if self._caller_reads != self._idle_seen:
                self._arm_idle_check()
            else:
                self._start_reader()

    def _close_in_reader_thread(self) -> None:
        """Let a reader thread close the connection, for a reader that mustn't block."""
        with self._lock:
            self._start_reader()

    def _may_park(self) -> bool:
        """Whether nothing but recv() callers need the peer's frames (lock held)."""
        protocol = self.protocol
        return (
            protocol is not None
            and protocol.state is OPEN
            and not self._pings
            and not self._reader_wanted
            and not self._aborted
        )

    def _claim_read_turn(self) -> bool:
        """Take the read turn for the calling recv() if nobody reads (lock held)."""
        if self._reading or self._read_ended:
            return False
        self._reading = self._caller_reading = True
        self._caller_reads += 1
        return True

    def _try_claim_read_turn(self, frames_wanted: Callable[[], bool] | None = None) -> bool:
        """Take the read turn for the asyncio facade's recv() if nobody reads.

        ``frames_wanted`` is how an event loop that keeps the turn hears that
        the peer's frames are needed (see :meth:`_wake_reader`), until
        :meth:`_release_read_turn`.
        """
        with self._lock:
            if self._closed.is_set() or not self._claim_read_turn():
                return False
            self._loop_reader_wanted = frames_wanted
            return True

    def _release_read_turn(self, go_on: bool, error: OSError | None, *, caller: bool) -> bool:
        """Give up the read turn; return whether the caller must close the connection.

        That is when reading ended (``go_on`` false) and no reader thread runs,
        which would close it.
        """
        with self._lock:
            self._reading = False
            if not go_on:
                # Nobody reads any more: the connection closes.
                self._read_ended = error or True
            if not caller:
                return False
            self._caller_reading = False
            self._loop_reader_wanted = None
            if not go_on:
                return not self._reader_running
            if self._may_park():
                self._arm_idle_check()
            else:
                self._wake_reader()
            return False

    def _read_as_caller(self, deadline: float | None) -> None:
        """Read and parse once in a recv() caller's thread, which holds the read turn."""
        sock = self.socket
        assert sock is not None
        # Anything but a broken connection (KeyboardInterrupt while waiting
        # for bytes, typically) leaves the connection open for the next read.
        go_on = True
        error = None
        try:
            if deadline is None or self._leftover:
                go_on = self._read_once(sock, 0, _MSG_WAITALL)
            elif _wait_readable(sock, deadline):
                go_on = self._read_once(sock, 0, 0)
        except OSError as exc:
            go_on, error = False, exc
        finally:
            if self._release_read_turn(go_on, error, caller=True):
                self._connection_lost()

    def _read_nowait(self) -> bool | None:
        """Read what the socket has without waiting; return whether to read on.

        For the asyncio facade, whose recv() holds the read turn in the event
        loop: answers to the peer are only started; the facade drains them
        with :meth:`_flush_answers`. Return ``None`` if there was nothing to read.

        Raises:
            OSError: The connection broke.
        """
        sock = self.socket
        assert sock is not None
        try:
            return self._read_once(sock, _MSG_DONTWAIT, _MSG_DONTWAIT, flush=False)
        except BlockingIOError:
            return None

    def _read_once(
        self, sock: socket.socket, flags: int, large_flags: int, *, flush: bool = True
    ) -> bool:
        """Read what the socket has and process it; return whether to read on.

        Called by whoever holds the read turn: the reader thread, or a recv()
        caller. ``large_flags`` apply to reading the rest of a large frame:
        ``MSG_WAITALL`` unless the caller has a deadline. With ``flush``,
        answers to the peer are written before returning. A blocking read
        that stays without bytes for :data:`.idle.IDLE_AFTER` goes on waiting
        in the process-wide idle poller.

        Raises:
            OSError: The connection broke.
        """
        if self._leftover:
            leftover, self._leftover = self._leftover, b""
            return self._process_data(leftover, flush=flush)
        try:
            return self._receive_and_process(sock, flags, large_flags, flush)
        except BlockingIOError:
            if flags & _MSG_DONTWAIT:
                raise
        while True:
            with idle.turn_when_readable(sock):
                try:
                    return self._receive_and_process(
                        sock, flags | _MSG_DONTWAIT, large_flags, flush
                    )
                except BlockingIOError:
                    pass  # a spurious wakeup: wait again

    def _receive_and_process(
        self, sock: socket.socket, flags: int, large_flags: int, flush: bool
    ) -> bool:
        """The body of :meth:`_read_once`; :exc:`BlockingIOError` if nothing came."""
        protocol = self.protocol
        assert protocol is not None
        target = protocol.receive_buffer()
        if target is not None:
            # The rest of a large frame, read straight into its payload.
            with target:
                size = sock.recv_into(target, 0, large_flags)
            return size != 0 and self._process_data(size, flush=flush)
        # The buffer starts small, so that idle connections cost little
        # memory, and grows while reads fill it, for bulk transfers.
        buffer = self._read_buffer
        if buffer is None:
            # An idle connection has no buffer until its first bytes arrive.
            if not (flags & _MSG_DONTWAIT or _wait_readable(sock, _idle_deadline())):
                raise BlockingIOError
            buffer = self._read_buffer = bytearray(_RECV_BUFFER_MIN)
        with memoryview(buffer) as view:
            if flags == _MSG_DONTWAIT and len(buffer) <= _KEEPING_GIL_MAX:
                size = self._calls.recv_into(sock, view)
            else:
                size = sock.recv_into(view, 0, flags)
            if size == 0:
                return False
            go_on = self._process_data(view[:size], flush=flush)
        if size == len(buffer) and size < _RECV_BUFFER_MAX:
            self._read_buffer = bytearray(size * 4)
        return go_on

    def _process_data(self, data: bytes | memoryview | int, *, flush: bool = True) -> bool:
        """Parse received bytes, dispatch events, answer the peer, apply backpressure.

        ``data`` is what was read, or how much was read into the protocol's
        receive buffer. With ``flush``, wait until the answers to the peer are
        written; else only start writing them. Return whether to read on: a
        server stops after the closing handshake.
        """
        protocol = self.protocol
        assert protocol is not None
        with _dispatch_turn, self._lock:
            if isinstance(data, int):
                protocol.receive_buffered(data)
            else:
                protocol.receive_data(data)
            events = protocol.events_received()
            wakers = self._dispatch(events) if events else None
            self._queue_output()
            target = self._queued
        if wakers:
            _call_all(wakers)
        if self._written < target:
            if flush:
                self._flush_answers(target)
            else:
                self._flush_nowait()
        if not self.is_client and protocol.close_rcvd is not None and protocol.close_sent:
            # RFC 6455 §7.1.1: once both Close frames are exchanged, the server
            # closes the TCP connection first, without waiting for the client.
            return False
        # A recv() caller reading for itself doesn't wait for itself.
        if (
            self.max_queue is not None
            and len(self._messages) >= self.max_queue
            and not self._caller_reading
        ):
            with self._lock:
                while self._queue_holds_reading_back():
                    self._reader_paused = True
                    try:
                        self._reader_resume.wait()
                    finally:
                        self._reader_paused = False
        return True

    def _queue_holds_reading_back(self) -> bool:
        """Whether the reader must wait for room in the queue before reading on."""
        if self.max_queue is None or len(self._messages) < self.max_queue:
            return False
        protocol = self.protocol
        assert protocol is not None
        return (
            protocol.state is OPEN
            # After an error nothing more is parsed: read on, to see the TCP
            # connection close.
            and protocol.parser_exc is None
            and not self._aborted
        )

    def _flush_answers(self, target: int) -> None:
        """Write pongs and close replies up to ``target``.

        A peer that doesn't read them holds back the reading thread, and so
        its own stream, until close_timeout drops it.
        """
        # While closing, a peer that doesn't read our Close frame is dropped
        # after close_timeout, like one that doesn't answer it.
        closing = self._protocol().state is not OPEN
        self._flush(target, self.close_timeout if closing else None, ignore_errors=True)

    def _dispatch(self, events: list[Any]) -> list[Callable[[], None]] | None:
        """Act on events from the sans-I/O layer (lock held); return wakers to call."""
        protocol = self.protocol
        assert protocol is not None
        queued = False
        for event in events:
            if type(event) is str or type(event) is bytes:
                if protocol.state is not OPEN and self._closing_and_full():
                    # The application started closing and stopped reading, but
                    # the reader must go on to receive the Close frame.
                    self.logger.debug("! dropped a message received while closing")
                else:
                    self._messages.append(event)
                    queued = True
            elif isinstance(event, Frame):
                if event.opcode is OP_PONG:
                    self._acknowledge_pings(event.data)
                elif event.opcode is OP_CLOSE and self.is_client:
                    # Wait for the server to close the TCP connection, not forever.
                    # A server closes it itself right after answering.
                    self._arm_close_timer()
            else:
                self._receive_failure(event)
                queued = True
        if not queued:
            return None
        if not self._wakers:
            return None
        wakers, self._wakers = self._wakers, []
        return wakers

    def _closing_and_full(self) -> bool:
        """Whether we sent a Close frame, await the answer, and the queue is full."""
        protocol = self.protocol
        assert protocol is not None
        return (
            protocol.state is not OPEN
            and protocol.close_rcvd is None
            and self.max_queue is not None
            and len(self._messages) >= self.max_queue
        )

    def _receive_failure(self, failure: Failure) -> None:
        """Fail now, or once the application has received the messages before it."""
        self.logger.info("! failing connection: %s", failure.reason or failure.code)
        if self._messages:
            # Errors surface in stream order: the application gets, and may
            # answer, what arrived before the bad bytes.
            self._failure = failure
            self._messages.append(failure)
            self._arm_close_timer(lambda: self._fail_now(failure))
        else:
            self._fail(failure.code, failure.reason)

    def _fail_now(self, failure: Failure) -> None:
        """Timer callback: the application didn't reach a pending failure in time."""
        self._fail_nowait(failure.code, failure.reason)

    def _pop_message(self) -> Data | None:
        """Dequeue the next message (lock held); apply a failure that comes next."""
        messages = self._messages
        while messages:
            message = messages.popleft()
            if self._reader_paused:
                self._reader_resume.notify_all()
            if type(message) is Failure:
                self._fail(message.code, message.reason)
                self._flush_locked_nowait()
                continue
            return message  # type: ignore[return-value]
        return None

    def _connection_lost(self, *, may_wait: bool = True) -> bool:
        """End of reading: close the socket and wake everybody; return whether it did.

        Called by whoever read last: the reader thread, a recv() caller, or the
        event loop of the asyncio facade. That one mustn't block: with
        ``may_wait`` false, nothing is done, and ``False`` returned, if closing
        would wait for a sender blocked on the peer or for ``SO_LINGER``.
        """
        sock = self.socket
        assert sock is not None
        protocol = self.protocol
        assert protocol is not None
        if not may_wait and _lingers(sock):
            return False
        error = self._read_ended
        broken = isinstance(error, OSError) and not self._aborted
        with self._lock:
            if self._writing and not may_wait:
                return False
            protocol.receive_eof()
            self._aborted = True  # no sender starts writing from now on
            if self._writing:
                # A sender is blocked on a peer that doesn't read: unblock it.
                _shutdown(sock, socket.SHUT_RDWR)
                self._write_waiters += 1
                while self._writing:
                    self._write_done.wait()
                self._write_waiters -= 1
        if broken:
            self.logger.debug("! connection error: %s", error)
        with _dispatch_turn, self._lock:
            timers = (self._keepalive_timer, self._pong_timer, self._close_timer, self._idle_timer)
            for timer in timers:
                if timer is not None:
                    timer.cancel()
            self._pending.clear()
            pings, self._pings = self._pings, {}
            wakers = self._wakers + self._close_wakers
            self._wakers, self._close_wakers = [], []
            self._closed.set()
            self._reader_resume.notify_all()
            self._write_done.notify_all()
        self._calls.close(sock)
        if pings:
            exc = protocol.close_exc
            for waiter, _ in pings.values():
                if not waiter.done():
                    waiter.set_exception(exc)
        _call_all(wakers)
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("= connection closed: %s", protocol.close_exc)
        return True

    # Writing: one outgoing buffer, one writer at a time.

    def _acquire_send_lock(self) -> None:
        """Wait for a data message sent by another thread, within write_timeout."""
        timeout = -1 if self.write_timeout is None else self.write_timeout
        if not self._send_lock.acquire(timeout=timeout):
            self._write_timed_out()

    def _queue_message(self, message: Data | bytearray | memoryview) -> int:
        """Queue a whole message and start writing it; return the flush target.

        Raises:
            ConnectionClosed: The connection is closing or closed.
        """
        with self._lock:
            protocol = self._protocol()
            if isinstance(message, str):
                self._call_sansio(protocol.send_text, message.encode())
            else:
                self._call_sansio(protocol.send_binary, message)
            self._flush_locked_nowait()
            return self._queued

    def _queue_fragment(self, opcode: Opcode, data: Any, first: bool, fin: bool) -> int:
        """Queue one frame of a fragmented message; return the flush target."""
        with self._lock:
            protocol = self._protocol()
            if not first:
                self._call_sansio(protocol.send_continuation, data, fin)
            elif opcode is OP_TEXT:
                self._call_sansio(protocol.send_text, data, fin)
            else:
                self._call_sansio(protocol.send_binary, data, fin)
            self._flush_locked_nowait()
            return self._queued

    def _queue_ping(self, data: Data | None) -> tuple[PongWaiter, int]:
        """Queue a Ping frame; return its pong waiter and the flush target."""
        payload = os.urandom(4) if data is None else _to_bytes(data)
        with self._lock:
            if payload in self._pings:
                raise ValueError("already waiting for a pong with the same data")
            self._call_sansio(self._protocol().send_ping, payload)
            waiter = PongWaiter()
            self._pings[payload] = (waiter, time.monotonic())
            # Somebody must read on, to receive the pong.
            self._wake_reader()
            self._flush_locked_nowait()
            return waiter, self._queued

    def _queue_pong(self, data: Data) -> int:
        """Queue a Pong frame; return the flush target."""
        payload = _to_bytes(data)
        with self._lock:
            self._call_sansio(self._protocol().send_pong, payload)
            self._flush_locked_nowait()
            return self._queued

    def _is_flushed(self, target: int) -> bool:
        """Whether the outgoing buffer is written up to ``target``."""
        return self._written >= target

    def _call_sansio(self, method: Callable[..., None], *args: Any) -> None:
        """Call a ``send_*`` method of the sans-I/O protocol and queue its output (lock held).

        Raises:
            ConnectionClosed: The connection is closing or closed.
        """
        try:
            method(*args)
        except InvalidState:
            raise self._close_exc() from None
        self._queue_output()

    # Opening handshake: the server's request or the client's response is
    # usually all there when the other side reads it, and fits in one segment.

    def _handshake_bytes_ready(self, sock: socket.socket) -> bytes | None:
        """Read what the peer sent of its handshake without waiting; ``None`` if nothing came.

        Only where the C calls keep the GIL (plain sockets): reading then
        costs no GIL hand-over. The socket's own recv_into would poll first
        on a socket with a timeout, so other sockets go straight to the
        caller's timed read. ``b""`` means the peer closed the connection.
        """
        calls = _socket_calls(sock)
        if calls is _RELEASING_GIL:
            return None
        buffer = bytearray(_HANDSHAKE_CHUNK)
        try:
            size = calls.recv_into(sock, memoryview(buffer))
        except BlockingIOError:
            return None
        del buffer[size:]
        return bytes(buffer)

    def _send_handshake(self, sock: socket.socket, data: bytes) -> None:
        """Send a handshake message, keeping the GIL where the socket takes it at once.

        Raises:
            OSError: The connection broke, or the socket's timeout expired.
        """
        sent = _socket_calls(sock).send(sock, data, 0)
        if sent < len(data):
            sock.sendall(memoryview(data)[sent:])

    def _queue_output(self) -> None:
        """Move the protocol's output to the outgoing buffer (lock held)."""
        protocol = self.protocol
        assert protocol is not None
        for data in protocol.data_to_send():
            self._pending.append(data)
            # The EOF marker counts as one byte so that a flush waits for it.
            self._queued += len(data) or 1

    def _flush(self, target: int, timeout: float | None, *, ignore_errors: bool = False) -> None:
        """Return once the outgoing buffer is written up to byte ``target``.

        The calling thread writes if nobody else is writing; otherwise it
        waits for the writer.

        Raises:
            TimeoutError: Not written within ``timeout``; the connection is dropped.
            ConnectionClosed: The connection broke before the bytes were written.
        """
        if self._written >= target:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._written < target:
                if self._write_error is not None or self._aborted:
                    if ignore_errors:
                        return
                    raise self._close_exc()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                if self._writing:
                    self._write_waiters += 1
                    try:
                        self._write_done.wait(remaining)
                    finally:
                        self._write_waiters -= 1
                else:
                    self._write_pending(deadline)
            else:
                return
        self._write_timed_out()

    def _write_pending(self, deadline: float | None) -> None:
        """Write the whole outgoing buffer with the lock released (lock held on entry and exit)."""
        sock = self.socket
        assert sock is not None
        self._writing = True
        try:
            while self._pending and self._write_error is None:
                batch, self._pending = self._pending, []
                # Everything queued and not written yet is in this batch.
                size = self._queued - self._written
                written, self._write_error = self._write_unlocked(sock, batch, deadline)
                self._written += written
                if written < size:
                    # Put back what wasn't written, so that another writer
                    # can go on after a timeout.
                    self._requeue(batch, written)
                    break
        finally:
            self._writing = False
            if self._write_waiters:
                self._write_done.notify_all()
        if self._write_error is not None:
            # Senders waiting for these bytes find the error and raise.
            self._pending.clear()

    def _write_unlocked(
        self, sock: socket.socket, batch: list[bytes], deadline: float | None
    ) -> tuple[int, OSError | None]:
        """Write a batch with the lock released; return what was written and the error."""
        self._lock.release()
        try:
            return self._write_batch(sock, batch, deadline), None
        except OSError as exc:
            return 0, exc
        finally:
            self._lock.acquire()

    def _requeue(self, batch: list[bytes], written: int) -> None:
        remaining: list[bytes] = []
        for data in batch:
            size = len(data) or 1
            if written >= size:
                written -= size
                continue
            remaining.append(data[written:] if data else data)
            written = 0
        self._pending[:0] = remaining

    def _write_batch(self, sock: socket.socket, batch: list[bytes], deadline: float | None) -> int:
        """Write a batch to the socket; return how much was written (units of ``_queued``).

        Raises:
            OSError: The connection broke.
        """
        if len(batch) == 1 and batch[0]:
            # The common case: one frame.
            return self._write_buffer(sock, batch[0], deadline)
        written = 0
        for buffers, eof in _split_at_eof(batch):
            if len(buffers) == 1:
                # A frame before the EOF: a Close frame, typically. With
                # MSG_MORE, the FIN leaves in the same TCP segment.
                size = len(buffers[0])
                sent = self._write_buffer(sock, buffers[0], deadline, _MSG_MORE if eof else 0)
            else:
                size = sum(map(len, buffers))
                sent = _send_all(sock, buffers, deadline) if buffers else 0
            written += sent
            if sent < size:
                break
            if eof:
                self._calls.shutdown(sock, socket.SHUT_WR)
                written += 1
        return written

    def _write_buffer(
        self, sock: socket.socket, data: bytes | memoryview, deadline: float | None, flags: int = 0
    ) -> int:
        """Write one buffer, which the socket usually takes at once; return bytes written.

        ``flags`` apply to the first send, which usually writes it all.

        Raises:
            OSError: The connection broke.
        """
        send = self._calls.send if len(data) <= _KEEPING_GIL_MAX else _send_nowait
        sent = send(sock, data, flags)
        if sent == len(data):
            return sent
        return sent + _send_all(sock, [memoryview(data)[sent:]], deadline)

    def _flush_nowait(self) -> None:
        """Start writing the outgoing buffer unless somebody is; never blocks for long."""
        with self._lock:
            self._flush_locked_nowait()

    def _flush_locked_nowait(self) -> None:
        if not self._writing and self._pending and self._write_error is None and not self._aborted:
            self._write_pending(time.monotonic())

    def _write_timed_out(self) -> None:
        self.logger.info("! write timed out; dropping the connection")
        self._abort()
        raise TimeoutError("timed out writing to the peer")

    # Failing and aborting.

    def _fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (lock held): Close frame, EOF, then the TCP close."""
        protocol = self._protocol()
        self._failure = None
        protocol.fail(code, reason)
        self._queue_output()
        self._arm_close_timer()
        self._wake_reader()

    def _fail_nowait(self, code: int, reason: str) -> None:
        """Fail the connection from any thread without blocking."""
        with self._lock:
            if self.protocol is not None:
                self._fail(code, reason)
                self._flush_locked_nowait()

    def _abort(self) -> None:
        """Drop the TCP connection; whoever reads then meets its end and cleans up."""
        with self._lock:
            self._aborted = True
            self._write_done.notify_all()
            if self.socket is not None:
                self._wake_reader()
        if self.socket is not None:
            _shutdown(self.socket, socket.SHUT_RDWR)

    def _arm_close_timer(self, callback: Callable[[], None] | None = None) -> None:
        """Drop the connection if it isn't closed within close_timeout (lock held)."""
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self.close_timeout is not None and not self._closed.is_set():
            self._close_timer = call_later(self.close_timeout, callback or self._abort)

    def _wait_reader_exit(self, timeout: float | None) -> None:
        if self.socket is None or self._reader is threading.current_thread():
            return
        if not self._closed.wait(timeout):
            self._abort()
            self._closed.wait()

    def _close_exc(self) -> ConnectionClosed:
        """The exception that reports the closure; final once the reader exited."""
        protocol = self.protocol
        if protocol is None:
            return ConnectionClosed(None, None)
        return protocol.close_exc

    def _protocol(self) -> Protocol:
        if self.protocol is None:
            raise InvalidState("the opening handshake is not done")
        return self.protocol

    # Keepalive.

    def _arm_keepalive(self) -> None:
        if self.ping_interval is not None:
            self._keepalive_timer = call_later(self.ping_interval, self._keepalive_ping)

    def _keepalive_ping(self) -> None:
        """Timer callback: send a ping and expect its pong within ping_timeout."""
        with self._lock:
            protocol = self._protocol()
            if protocol.state is not OPEN:
                return
            payload = os.urandom(4)
            protocol.send_ping(payload)
            self._queue_output()
            waiter = PongWaiter()
            self._pings[payload] = (waiter, time.monotonic())
            # Somebody must read on, to receive the pong.
            self._wake_reader()
            self._arm_keepalive()
            if self.ping_timeout is not None and self._pong_timer is None:
                self._pong_timer = call_later(self.ping_timeout, self._keepalive_timeout)
            self._flush_locked_nowait()

    def _keepalive_timeout(self) -> None:
        with self._lock:
            self._pong_timer = None
            if self._protocol().state is OPEN:
                self.logger.info("! keepalive ping timeout; failing the connection")
                self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                self._flush_locked_nowait()

    def _acknowledge_pings(self, data: bytes) -> None:
        """Resolve the ping with this payload and every earlier one (lock held)."""
        if data not in self._pings:
            return  # unsolicited pong, RFC 6455 §5.5.3
        now = time.monotonic()
        while self._pings:
            payload, (waiter, sent_at) = next(iter(self._pings.items()))
            del self._pings[payload]
            self.latency = now - sent_at
            if not waiter.done():
                waiter.set_result(self.latency)
            if payload == data:
                break
        if self._pong_timer is not None and not self._pings:
            self._pong_timer.cancel()
            self._pong_timer = None


class FragmentWriter:
    """Sends an iterable as one fragmented message, frame by frame (RFC 6455 §5.4).

    A fragment is held back until the next one arrives, so that the last
    frame can carry FIN. Both faces drive it: the sync face with ``for``, the
    asyncio facade with ``async for``. The caller holds the send lock and
    flushes up to each returned target.
    """

    def __init__(self, connection: WebSocketCommonProtocol) -> None:
        self._connection = connection
        self._opcode: Opcode | None = None
        self._held: bytes | bytearray | memoryview | None = None
        self._started = False

    def add(self, fragment: Any) -> int:
        """Take the next fragment; send the one before it. Return the flush target.

        Raises:
            TypeError: The fragment's type differs from the first one's.
        """
        if self._opcode is None:
            if isinstance(fragment, str):
                self._opcode = OP_TEXT
            elif isinstance(fragment, (bytes, bytearray, memoryview)):
                self._opcode = OP_BINARY
            else:
                raise TypeError("iterable must contain str or bytes-like objects")
        if self._opcode is OP_TEXT:
            if not isinstance(fragment, str):
                raise TypeError("iterable must contain only str")
            data: bytes | bytearray | memoryview = fragment.encode()
        elif isinstance(fragment, (bytes, bytearray, memoryview)):
            data = fragment
        else:
            raise TypeError("iterable must contain only bytes-like objects")
        target = self._send(fin=False) if self._held is not None else 0
        self._held = data
        return target

    def finish(self) -> int:
        """Send the last fragment with FIN; return the flush target (0: nothing sent)."""
        return 0 if self._held is None else self._send(fin=True)

    def abort(self) -> None:
        """Fail the connection if the message was started: it can't be completed."""
        if self._started:
            self._connection._fail_nowait(CloseCode.INTERNAL_ERROR, "incomplete fragmented message")

    def _send(self, *, fin: bool) -> int:
        assert self._opcode is not None and self._held is not None
        target = self._connection._queue_fragment(self._opcode, self._held, not self._started, fin)
        self._started = True
        self._held = None
        return target


def _to_bytes(data: Data | bytearray | memoryview) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def _lingers(sock: socket.socket) -> bool:
    """Whether closing ``sock`` waits for the peer to take unsent bytes (``SO_LINGER``)."""
    try:
        option = sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_SIZE)
    except OSError:
        return False
    on, seconds = _LINGER.unpack(option)
    return bool(on) and seconds > 0


def _split_at_eof(batch: list[bytes]) -> Iterator[tuple[list[bytes], bool]]:
    """Split a batch at its EOF markers: runs of buffers to write, each with whether one follows.

    A run before an EOF marker may be empty.
    """
    start = 0
    for index, data in enumerate(batch):
        if not data:
            yield batch[start:index], True
            start = index + 1
    if start < len(batch):
        yield batch[start:], False


class _SocketCalls(NamedTuple):
    """The socket calls of a connection that never block, for small buffers."""

    send: Callable[[socket.socket, bytes | memoryview, int], int]
    recv_into: Callable[[socket.socket, memoryview], int]
    shutdown: Callable[[socket.socket, int], None]
    close: Callable[[socket.socket], None]


def _send_nowait(sock: socket.socket, data: bytes | memoryview, flags: int = 0) -> int:
    """Send what the socket takes now, releasing the GIL meanwhile; 0 if it is full."""
    try:
        return sock.send(data, _MSG_DONTWAIT | flags)
    except BlockingIOError:
        return 0


def _recv_into_nowait(sock: socket.socket, buffer: memoryview) -> int:
    """Read what the socket has, releasing the GIL meanwhile; :exc:`BlockingIOError` if nothing."""
    return sock.recv_into(buffer, 0, _MSG_DONTWAIT)


def _shutdown_socket(sock: socket.socket, how: int) -> None:
    sock.shutdown(how)


def _close_socket(sock: socket.socket) -> None:
    sock.close()


#: The socket's own methods, which release the GIL around each system call.
_RELEASING_GIL = _SocketCalls(_send_nowait, _recv_into_nowait, _shutdown_socket, _close_socket)


def _socket_calls(sock: socket.socket) -> _SocketCalls:
    """The C calls on plain sockets; the socket's own methods on wrappers such as SSL sockets."""
    if _KEEPING_GIL is not None and type(sock) is socket.socket:
        return _KEEPING_GIL
    return _RELEASING_GIL


def _select_keeping_gil() -> _SocketCalls | None:
    """The C calls that keep the GIL, when they were built and not switched off."""
    nowait = accelerators.load("websockets_sync._nowait")
    if nowait is None or not _MSG_DONTWAIT:
        return None
    return _SocketCalls(nowait.send, nowait.recv_into, nowait.shutdown, nowait.close)


_KEEPING_GIL = _select_keeping_gil()


def _send_all(
    sock: socket.socket, buffers: Sequence[bytes | memoryview], deadline: float | None
) -> int:
    """Write ``buffers``, waiting for the socket to drain until ``deadline``; return bytes written.

    One ``sendmsg`` gathers all the buffers, so frames are never joined to
    be written together. Sends with ``MSG_DONTWAIT`` and polls for
    writability, so the socket stays in blocking mode for the reader thread
    while writes get their own timeout.
    """
    pending = list(buffers)
    written = 0
    index = 0
    poller: Any = None
    while index < len(pending):
        try:
            sent = sock.sendmsg(pending[index : index + _IOV_MAX], (), _MSG_DONTWAIT)
        except BlockingIOError:
            pass
        else:
            written += sent
            while index < len(pending) and sent >= len(pending[index]):
                sent -= len(pending[index])
                index += 1
            if sent:
                pending[index] = memoryview(pending[index])[sent:]
            continue
        if poller is None:
            poller = select.poll()
            poller.register(sock, select.POLLOUT)
        if deadline is None:
            poller.poll()
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            poller.poll(remaining * 1000)
    return written


def _idle_deadline() -> float | None:
    """When a read without bytes hands over to the idle poller, if it does."""
    return time.monotonic() + idle.IDLE_AFTER if _IDLE_POLLER else None


def _wait_readable(sock: socket.socket, deadline: float | None) -> bool:
    """Wait until ``sock`` has bytes or EOF to read, at most until ``deadline``."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if deadline is None:
        return bool(poller.poll())
    return bool(poller.poll(max(0.0, deadline - time.monotonic()) * 1000))


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _call_all(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            _logger.exception("waker failed")
