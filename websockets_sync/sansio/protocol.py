"""The WebSocket connection state machine (RFC 6455 §5-7), without I/O.

Bytes go in through :meth:`Protocol.receive_data`; messages and control
frames come out of :meth:`Protocol.events_received`; bytes to write come out
of :meth:`Protocol.data_to_send`. The opening handshake is done before a
:class:`Protocol` exists (see :mod:`.client` and :mod:`.server`).
"""

from __future__ import annotations

import codecs
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..defaults import MAX_SIZE
from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from .extensions.base import Extension
from .frames import (
    OK_CLOSE_CODES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
    apply_mask,
    frame_parts,
    serialize_frame,
)

__all__ = [
    "Event",
    "Failure",
    "Protocol",
    "Side",
    "State",
]

_logger = logging.getLogger("websockets_sync.protocol")


class Side(enum.Enum):
    """Which end of the connection this is; it decides masking (RFC 6455 §5.3)."""

    SERVER = "server"
    CLIENT = "client"


class State(enum.IntEnum):
    """Connection state after the opening handshake (RFC 6455 §4-7)."""

    OPEN = 1
    CLOSING = 2
    CLOSED = 3


# As module globals, for code that runs for every frame (see OP_TEXT in .frames).
OPEN, CLOSING, CLOSED = State.OPEN, State.CLOSING, State.CLOSED
SERVER, CLIENT = Side.SERVER, Side.CLIENT


@dataclass(slots=True, frozen=True)
class Failure:
    """The peer broke the protocol; the connection must be failed with ``code``.

    It is delivered as an event after every message that arrived before the
    offending bytes, so that the I/O layer can let the application see those
    messages (and answer them) before it calls :meth:`Protocol.fail`.
    """

    code: int
    reason: str
    exc: Exception


#: What :meth:`Protocol.events_received` returns: a whole text message (str),
#: a whole binary message (bytes), a control frame, or a protocol failure.
Event = str | bytes | Frame | Failure

_UTF8Decoder = codecs.getincrementaldecoder("utf-8")

# What the peer can do wrong while frames are parsed; see _parse_failed.
_PARSE_ERRORS = (ProtocolError, PayloadTooBig, UnicodeDecodeError)

# Opcodes as plain ints for the parser's hot path, and the enum by value.
_CONT, _TEXT, _BINARY, _PONG = 0x0, 0x1, 0x2, 0xA
_OPCODES: dict[int, Opcode] = {opcode.value: opcode for opcode in Opcode}

# A compressed message may be larger on the wire than once decompressed: deflate
# adds 5 bytes per stored block, and blocks are as small as 128 bytes with
# memLevel=1 (4% more). Its frames are allowed this much more than what is left
# of max_size; the decompressor enforces max_size itself, on the decoded size.
_COMPRESSION_SLACK_RATIO = 8  # 1/8, 12.5%
_COMPRESSION_SLACK = 1024
# From this payload size, a frame still arriving gets a buffer of its own size,
# which the I/O layer may read into directly (receive_buffer).
_LARGE_FRAME = 64 * 1024
# Without max_size, the largest frame trusted with such a buffer before its
# bytes arrive; longer ones accumulate as they come.
_LARGE_FRAME_CAP = 16 * 1024 * 1024
# From this payload size, frames leave the header and payload in two buffers
# rather than copying the payload to join them.
_GATHER_MIN = 16 * 1024


class Protocol:
    """State of one WebSocket connection after the opening handshake.

    Args:
        side: The role of this end, which decides masking.
        max_size: Largest message accepted, after extensions decoded it;
            ``None`` for no limit.
        extensions: The extensions negotiated in the opening handshake.
        logger: Where frames are logged at DEBUG level.

    The I/O layer must drain :meth:`data_to_send` after each call that can
    produce output: ``receive_data`` (pongs and close replies), ``send_*``,
    and ``fail``. An empty bytes object in that output means "half-close the
    TCP connection now".
    """

    def __init__(
        self,
        side: Side,
        *,
        max_size: int | None = MAX_SIZE,
        extensions: Sequence[Extension] = (),
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.side = side
        self.state: State = OPEN
        self.max_size = max_size
        self.extensions = list(extensions)
        self.logger = _logger if logger is None else logger

        #: The Close frame received, once it has arrived.
        self.close_rcvd: Close | None = None
        #: The Close frame sent, once it is queued for sending.
        self.close_sent: Close | None = None
        #: Whether the peer started the closing handshake.
        self.close_rcvd_then_sent: bool | None = None
        #: The reason why parsing stopped, if the peer broke the protocol.
        self.parser_exc: Exception | None = None
        #: Whether the TCP connection has been half-closed by the peer.
        self.eof_received = False

        self._mask = side is CLIENT
        self._masked_mask_bit = 0x80 if side is SERVER else 0
        self._buffer = bytearray()
        self._events: list[Event] = []
        self._output: list[bytes] = []
        # A large frame whose payload is still arriving: its header, and a
        # buffer of the payload's exact size filled as bytes come in.
        self._large: _LargeFrame | None = None
        # Bytes received after a Close frame or a failure are not parsed.
        self._discarding = False
        self._eof_sent = False
        # Incoming fragmented message: opcode of its first frame, parts so far.
        self._in_opcode: Opcode | None = None
        self._in_parts: list[bytes] | list[str] = []
        self._in_size = 0
        # Whether the message in progress is compressed: its frames may be larger.
        self._in_compressed = False
        self._in_decoder: codecs.IncrementalDecoder | None = None
        # Whether an outgoing fragmented message awaits its next fragment.
        self._out_fragmented = False

    # Input.

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the network and parse every complete frame."""
        if self._discarding:
            return
        try:
            large = self._large
            if large is not None:
                used = large.fill(data)
                if not large.complete():
                    return
                self._finish_large_frame(large)
                if self._discarding or used == len(data):
                    return
                data = memoryview(data)[used:]
            buffer = self._buffer
            if buffer:
                buffer += data
                consumed = self._parse(buffer)
                if self._discarding:
                    buffer.clear()
                elif consumed:
                    del buffer[:consumed]
            else:
                # Parse in place; only an incomplete frame at the end is kept.
                consumed = self._parse(data)
                if not self._discarding and consumed < len(data):
                    buffer += data[consumed:]
        except _PARSE_ERRORS as exc:
            self._parse_failed(exc)

    def receive_buffer(self) -> memoryview | None:
        """Where the I/O layer may read the rest of a large frame, or ``None``.

        While the payload of a large frame is arriving, reading it straight
        into its final buffer saves copying it from a read buffer. Report the
        bytes read there with :meth:`receive_buffered`.
        """
        large = self._large
        if large is None or self._discarding:
            return None
        return large.missing()

    def receive_buffered(self, size: int) -> None:
        """Record that ``size`` bytes were read into :meth:`receive_buffer`."""
        large = self._large
        if large is None or self._discarding:
            return
        large.filled += size
        if large.complete():
            try:
                self._finish_large_frame(large)
            except _PARSE_ERRORS as exc:
                self._parse_failed(exc)

    def _parse_failed(self, exc: ProtocolError | PayloadTooBig | UnicodeDecodeError) -> None:
        """Turn what the peer did wrong into a failure with the RFC's close code."""
        if isinstance(exc, ProtocolError):
            self._stop_parsing(CloseCode.PROTOCOL_ERROR, str(exc), exc)
        elif isinstance(exc, PayloadTooBig):
            self._stop_parsing(CloseCode.MESSAGE_TOO_BIG, str(exc), exc)
        else:
            self._stop_parsing(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}", exc)

    def receive_eof(self) -> None:
        """Record that the peer closed its side of the TCP connection."""
        self.eof_received = True
        self.state = CLOSED
        self._discarding = True
        self._large = None
        self._buffer.clear()

    def events_received(self) -> list[Event]:
        """Return the events parsed since the last call, in stream order."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """Return the bytes to write since the last call; ``b""`` means send EOF."""
        output, self._output = self._output, []
        return output

    # Output.

    def send_text(self, data: bytes, fin: bool = True) -> None:
        """Send a text frame; ``data`` must be UTF-8 already.

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: A fragmented message is still in progress.
        """
        self._send_data_frame(OP_TEXT, data, fin)

    def send_binary(self, data: bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Send a binary frame.

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: A fragmented message is still in progress.
        """
        self._send_data_frame(OP_BINARY, data, fin)

    def send_continuation(self, data: bytes | bytearray | memoryview, fin: bool) -> None:
        """Send the next fragment of the outgoing message.

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: No fragmented message is in progress.
        """
        self._check_open()
        if not self._out_fragmented:
            raise ProtocolError("unexpected continuation frame")
        self._out_fragmented = not fin
        self._send_frame(Frame(OP_CONT, data, fin))  # type: ignore[arg-type]

    def send_ping(self, data: bytes) -> None:
        """Send a Ping frame, at most 125 bytes.

        Raises:
            InvalidState: The connection is not open.
            ValueError: ``data`` is longer than 125 bytes (RFC 6455 §5.5).
        """
        self._check_open()
        _check_control_payload(data)
        self._send_frame(Frame(OP_PING, data))

    def send_pong(self, data: bytes) -> None:
        """Send a Pong frame, at most 125 bytes.

        Raises:
            InvalidState: The connection is not open.
            ValueError: ``data`` is longer than 125 bytes (RFC 6455 §5.5).
        """
        self._check_open()
        _check_control_payload(data)
        self._send_frame(Frame(OP_PONG, data))

    def send_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (RFC 6455 §7.1.2).

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: The code may not be sent, or the reason is too long.
        """
        self._check_open()
        close = Close(code, reason)
        payload = close.serialize()
        if len(payload) > 125:
            raise ProtocolError("close reason is longer than 123 bytes")
        self.close_sent = close
        self.state = CLOSING
        self._send_frame(Frame(OP_CLOSE, payload))

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 §7.1.7): Close frame if possible, then EOF.

        After this, incoming bytes are ignored; the I/O layer should close the
        TCP connection once the peer closes its side or a timeout expires.

        Raises:
            ProtocolError: The code may not be sent; nothing changes then.
        """
        if self.state is OPEN:
            # State OPEN means no Close frame was received: close_rcvd_then_sent stays None.
            close = Close(code, _truncate(reason))
            payload = close.serialize()  # validate the code before changing any state
            self.close_sent = close
            self.state = CLOSING
            self._send_frame(Frame(OP_CLOSE, payload))
        if self.state is not CLOSED:
            self._send_eof()
        self._discarding = True
        self._buffer.clear()

    # Closing.

    @property
    def close_code(self) -> int | None:
        """The code received, 1006 if the connection closed without one, else ``None``."""
        if self.state is not CLOSED:
            return None
        return CloseCode.ABNORMAL_CLOSURE if self.close_rcvd is None else self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """The reason received, ``""`` if none, ``None`` while not closed."""
        if self.state is not CLOSED:
            return None
        return "" if self.close_rcvd is None else self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception that tells the application how the connection closed."""
        rcvd, sent = self.close_rcvd, self.close_sent
        exc_type: type[ConnectionClosed] = ConnectionClosedError
        if (
            rcvd is not None
            and sent is not None
            and rcvd.code in OK_CLOSE_CODES
            and sent.code in OK_CLOSE_CODES
        ):
            exc_type = ConnectionClosedOK
        exc = exc_type(rcvd, sent, self.close_rcvd_then_sent)
        if self.parser_exc is not None:
            exc.__cause__ = self.parser_exc
        return exc

    # Internals: sending.

    def _check_open(self) -> None:
        if self.state is not OPEN:
            raise InvalidState(f"connection is {self.state.name.lower()}")

    def _send_data_frame(
        self, opcode: Opcode, data: bytes | bytearray | memoryview, fin: bool
    ) -> None:
        self._check_open()
        if self._out_fragmented:
            raise ProtocolError("expected a continuation frame")
        self._out_fragmented = not fin
        if self.extensions or self.logger.isEnabledFor(logging.DEBUG):
            self._send_frame(Frame(opcode, data, fin))  # type: ignore[arg-type]
        else:
            self._output_frame(opcode, data, fin, False)

    def _send_frame(self, frame: Frame) -> None:
        for extension in self.extensions:
            frame = extension.encode(frame)
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("> %s", frame)
        self._output_frame(frame.opcode, frame.data, frame.fin, frame.rsv1)

    def _output_frame(
        self, opcode: int, data: bytes | bytearray | memoryview, fin: bool, rsv1: bool
    ) -> None:
        if len(data) < _GATHER_MIN:
            self._output.append(serialize_frame(opcode, data, fin=fin, rsv1=rsv1, mask=self._mask))
        else:
            # Header and payload stay apart: the I/O layer gathers them in one write.
            self._output += frame_parts(opcode, data, fin=fin, rsv1=rsv1, mask=self._mask)

    # Internals: receiving.

    def _stop_parsing(self, code: int, reason: str, exc: Exception) -> None:
        self.parser_exc = exc
        self._discarding = True
        self._large = None
        self._buffer.clear()
        self._events.append(Failure(code, _truncate(reason), exc))

    def _parse(self, data: bytes | bytearray | memoryview) -> int:
        """Parse every complete frame in ``data`` (RFC 6455 §5.2); return the bytes used."""
        masked = self._masked_mask_bit
        offset = 0
        with memoryview(data) as view:
            size = len(view)
            while not self._discarding and size - offset >= 2:
                first, second = view[offset], view[offset + 1]
                if second & 0x80 != masked:
                    # RFC 6455 §5.1: servers close on unmasked frames, clients on masked ones.
                    raise ProtocolError("incorrect masking")
                length = second & 0x7F
                start = offset + 2
                if length == 126:
                    if size - start < 2:
                        break
                    length = int.from_bytes(view[start : start + 2], "big")
                    start += 2
                    if length < 126:
                        raise ProtocolError("payload length not minimally encoded")
                elif length == 127:
                    if size - start < 8:
                        break
                    length = int.from_bytes(view[start : start + 8], "big")
                    start += 8
                    if length >> 63:
                        raise ProtocolError("payload length has its most significant bit set")
                    if length < 65536:
                        raise ProtocolError("payload length not minimally encoded")
                opcode = first & 0x0F
                self._check_header(first, opcode, length)
                if masked:
                    end = start + 4 + length
                    if size < end:
                        if self._buffers_large(length) and size - start >= 4:
                            key = view[start : start + 4].tobytes()
                            self._start_large_frame(first, opcode, key, view[start + 4 :], length)
                            return size
                        break
                    payload = apply_mask(view[start + 4 : end], view[start : start + 4].tobytes())
                else:
                    end = start + length
                    if size < end:
                        if self._buffers_large(length):
                            self._start_large_frame(first, opcode, None, view[start:], length)
                            return size
                        break
                    payload = view[start:end].tobytes()
                offset = end
                self._receive_frame(first, opcode, payload)
        return offset

    def _buffers_large(self, length: int) -> bool:
        """Whether a frame this long gets a payload buffer of its size up front.

        Its header passed the size checks, so without a max_size only a
        moderate length is trusted with an allocation before the bytes arrive.
        """
        return length >= _LARGE_FRAME and (self.max_size is not None or length <= _LARGE_FRAME_CAP)

    def _start_large_frame(
        self, first: int, opcode: int, key: bytes | None, payload: memoryview, length: int
    ) -> None:
        large = _LargeFrame(first, opcode, key, bytearray(length))
        large.fill(payload)
        self._large = large

    def _finish_large_frame(self, large: _LargeFrame) -> None:
        self._large = None
        data = large.payload
        payload = bytes(data) if large.key is None else apply_mask(data, large.key)
        self._receive_frame(large.first, large.opcode, payload)

    def _check_header(self, first: int, opcode: int, length: int) -> None:
        """Reject a frame from its header alone, before its payload is buffered."""
        if first & 0x70 and not self.extensions:
            raise ProtocolError("reserved bits must be 0")
        if opcode >= 8:
            if opcode > _PONG:
                raise ProtocolError(f"invalid opcode: {opcode:#x}")
            if not first & 0x80:
                raise ProtocolError("fragmented control frame")
            if length > 125:
                raise ProtocolError("control frame too long")
            return
        if opcode > _BINARY:
            raise ProtocolError(f"invalid opcode: {opcode:#x}")
        if opcode == _CONT:
            if self._in_opcode is None:
                raise ProtocolError("unexpected continuation frame")
        elif self._in_opcode is not None:
            raise ProtocolError("expected a continuation frame")
        else:
            self._in_compressed = bool(first & 0x40) and bool(self.extensions)
        max_size = self.max_size
        if max_size is not None:
            limit = max_size - self._in_size
            if self._in_compressed:
                limit += limit // _COMPRESSION_SLACK_RATIO + _COMPRESSION_SLACK
            if length > limit:
                raise PayloadTooBig(
                    f"frame with {length} bytes after {self._in_size} bytes "
                    f"exceeds limit of {max_size} bytes"
                )

    def _receive_frame(self, first: int, opcode: int, payload: bytes) -> None:
        fin = first & 0x80
        if self.extensions:
            frame = Frame(
                _OPCODES[opcode],
                payload,
                bool(fin),
                bool(first & 0x40),
                bool(first & 0x20),
                bool(first & 0x10),
            )
            for extension in reversed(self.extensions):
                remaining = None if self.max_size is None else self.max_size - self._in_size
                frame = extension.decode(frame, max_size=remaining)
            if frame.rsv1 or frame.rsv2 or frame.rsv3:
                raise ProtocolError("reserved bits must be 0")
            payload = frame.data
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("< %s", Frame(_OPCODES[opcode], payload, bool(fin)))
        if opcode >= 8:
            self._receive_control_frame(_OPCODES[opcode], payload)
        elif fin and self._in_opcode is None:
            # Fast path: a message in a single frame.
            self._events.append(payload.decode() if opcode == _TEXT else payload)
        else:
            self._receive_fragment(_OPCODES[opcode], payload, bool(fin))

    def _receive_fragment(self, opcode: Opcode, payload: bytes, fin: bool) -> None:
        if opcode is not OP_CONT:
            self._in_opcode = opcode
            self._in_parts = []
            self._in_size = 0
            self._in_decoder = _UTF8Decoder() if opcode is OP_TEXT else None
        self._in_size += len(payload)
        if self.max_size is not None and self._in_size > self.max_size:
            raise PayloadTooBig(f"message exceeds limit of {self.max_size} bytes")
        # Text is decoded fragment by fragment, so invalid UTF-8 fails the
        # connection at the fragment that holds it (RFC 6455 §8.1).
        if self._in_decoder is not None:
            self._in_parts.append(self._in_decoder.decode(payload, fin))  # type: ignore[arg-type]
        else:
            self._in_parts.append(payload)  # type: ignore[arg-type]
        if fin:
            message: str | bytes = (
                "".join(self._in_parts)  # type: ignore[arg-type]
                if self._in_decoder is not None
                else b"".join(self._in_parts)  # type: ignore[arg-type]
            )
            self._in_opcode = None
            self._in_parts = []
            self._in_size = 0
            self._in_decoder = None
            self._events.append(message)

    def _receive_control_frame(self, opcode: Opcode, payload: bytes) -> None:
        if opcode is OP_PING:
            # RFC 6455 §5.5.2: answer with a Pong carrying the same data,
            # unless a Close frame was already sent.
            if self.state is OPEN:
                self._send_frame(Frame(OP_PONG, payload))
        elif opcode is OP_CLOSE:
            self._receive_close(Close.parse(payload))
        self._events.append(Frame(opcode, payload))

    def _receive_close(self, close: Close) -> None:
        # RFC 6455 §5.5.1: a Close frame ends the stream; an incomplete
        # fragmented message before it is dropped, and nothing after it is read.
        self.close_rcvd = close
        self._discarding = True
        if self.state is OPEN:
            self.close_sent = close
            self.close_rcvd_then_sent = True
            self.state = CLOSING
            self._send_frame(Frame(OP_CLOSE, close.serialize()))
        else:
            # Only send_close() leaves the state CLOSING with parsing still on.
            self.close_rcvd_then_sent = False
        # RFC 6455 §7.1.1: the server closes the TCP connection first.
        if self.side is SERVER:
            self._send_eof()

    def _send_eof(self) -> None:
        """Ask the I/O layer to half-close the TCP connection, once."""
        if not self._eof_sent:
            self._eof_sent = True
            self._output.append(b"")


class _LargeFrame:
    """A large frame whose payload is arriving into a buffer of its size."""

    __slots__ = ("filled", "first", "key", "opcode", "payload")

    def __init__(self, first: int, opcode: int, key: bytes | None, payload: bytearray) -> None:
        self.first = first
        self.opcode = opcode
        self.key = key
        self.payload = payload
        self.filled = 0

    def fill(self, data: bytes | bytearray | memoryview) -> int:
        """Copy as much of ``data`` as the payload still lacks; return how much."""
        with memoryview(data) as view:
            used = min(len(view), len(self.payload) - self.filled)
            self.payload[self.filled : self.filled + used] = view[:used]
        self.filled += used
        return used

    def missing(self) -> memoryview:
        return memoryview(self.payload)[self.filled :]

    def complete(self) -> bool:
        return self.filled == len(self.payload)


def _truncate(reason: str, limit: int = 123) -> str:
    """Shorten a close reason so that its UTF-8 form fits a control frame."""
    encoded = reason.encode()
    if len(encoded) <= limit:
        return reason
    return encoded[: limit - 3].decode(errors="ignore") + "..."


def _check_control_payload(data: bytes) -> None:
    if len(data) > 125:
        raise ValueError("control frame payload must be 125 bytes or less")
