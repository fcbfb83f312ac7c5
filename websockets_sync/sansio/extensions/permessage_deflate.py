"""The permessage-deflate extension (RFC 7692): per-message DEFLATE compression.

:class:`PerMessageDeflate` compresses outgoing data messages and decompresses
incoming ones; :class:`ClientPerMessageDeflateFactory` and
:class:`ServerPerMessageDeflateFactory` negotiate its parameters in the opening
handshake (RFC 7692 §7.1).

Decompression is bounded: a message never inflates past the ``max_size`` that
the state machine passes in, so a few kilobytes on the wire cannot make this
end allocate megabytes (a "decompression bomb").
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from ...exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import CTRL_OPCODES, OP_CONT, Frame
from .base import ClientExtensionFactory, Extension, ExtensionParameter, ServerExtensionFactory

__all__ = [
    "DEFAULT_COMPRESS_SETTINGS",
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

#: Keyword arguments for :func:`zlib.compressobj` used by the default factories.
#: memLevel 5 instead of zlib's 8 cuts the compressor's hash tables from 128 KiB
#: to 16 KiB per connection; on a sample of small JSON messages the compressed
#: size grew by less than 1% (ratio 0.311 instead of 0.310 with a 15-bit window).
#: Level 1 instead of zlib's 6 compresses JSON-like text about twice as fast,
#: for output about 10% larger (ratio 0.32 instead of 0.29 at 64 KiB, 0.35
#: instead of 0.32 at 1 KiB, with a 12-bit window): the better trade when
#: compressing is on the path of every message.
DEFAULT_COMPRESS_SETTINGS: Mapping[str, Any] = MappingProxyType({"level": 1, "memLevel": 5})

#: The window a default server asks for, on both sides. With memLevel 5 the
#: compressor then needs 32 KiB instead of 256 KiB with zlib's defaults, and
#: the decompressor 4 KiB instead of 32 KiB, for a compression ratio of 0.35
#: instead of 0.31 on the same sample: a good trade for a server holding many
#: connections.
_DEFAULT_SERVER_WINDOW_BITS = 12

# RFC 7692 §7.2.1: the sender removes these 4 octets, the tail of the empty
# stored block that Z_SYNC_FLUSH emits, from the end of each message; the
# receiver appends them back before inflating (§7.2.2).
_EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"

# RFC 7692 §7.1.2.1: window bits are 8 to 15, in decimal without leading zeros
# (nor a sign: "08" and "+9" are invalid).
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

_PARAMETER_NAMES = frozenset(
    {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }
)


class PerMessageDeflate(Extension):
    """permessage-deflate, negotiated and active on one connection.

    "Local" is this end and "remote" the peer: a client's remote is the
    server and the other way around.

    Args:
        remote_no_context_takeover: Whether the peer resets its compressor
            after each message, so that ours can be reset too.
        local_no_context_takeover: Whether to reset our compressor after
            each message.
        remote_max_window_bits: Base-2 log of the peer's LZ77 window, 8-15.
        local_max_window_bits: Base-2 log of our LZ77 window, 8-15.
        compress_settings: Extra keyword arguments for :func:`zlib.compressobj`
            such as ``level`` or ``memLevel``; ``wbits`` comes from the
            negotiation and is not allowed here.

    Raises:
        ValueError: When a window size is out of range or ``compress_settings``
            holds ``wbits``.
    """

    name = "permessage-deflate"

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: Mapping[str, Any] | None = None,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits)
        _check_window_bits("local_max_window_bits", local_max_window_bits)
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        # Window bits 8: zlib >= 1.2.9 refuses windowBits=8 for a raw deflate
        # stream (Python raises ValueError) and older zlib accepted it but could
        # emit distances larger than the window ("256-byte window bug"). deflate
        # never emits a distance above 2**wbits - 262 (MAX_DIST: the window minus
        # MIN_LOOKAHEAD), which is 250 bytes for wbits=9: a 9-bit compressor
        # produces streams that a peer's 256-byte window decodes. zlib does the
        # same for zlib-wrapped streams, promoting 8 to 9. inflate accepts 8 as
        # is, so the decompressor keeps the negotiated window: between calls it
        # holds only the last 2**bits bytes, which is all a conforming peer may
        # refer to (within one call inflate reads back into its output buffer,
        # so it doesn't enforce the window there).
        self._compress_wbits = max(local_max_window_bits, 9)
        # Created on first use, and dropped after each message when there is no
        # context takeover, so that an idle connection holds no zlib buffers.
        self._decoder: zlib._Decompress | None = None
        self._encoder: zlib._Compress | None = None
        # Whether the message being received is compressed and unfinished.
        self._decoding = False

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Decompress a frame of a compressed message; pass anything else through.

        Args:
            frame: A frame received from the peer.
            max_size: How many bytes the current message may still grow by,
                after decompression; ``None`` for no limit.

        Raises:
            PayloadTooBig: When the decompressed data exceeds ``max_size``;
                decompression stops there, so memory stays bounded.
            ProtocolError: When a continuation frame has RSV1 set or the
                compressed data is invalid.
        """
        if frame.opcode in CTRL_OPCODES:
            # RFC 7692 §6.1: control frames are never compressed; RSV1 on one
            # is left for the state machine to reject.
            return frame
        if frame.opcode is OP_CONT:
            # RFC 7692 §6.1: the "Per-Message Compressed" bit is set on the
            # first frame of a message only.
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a continuation frame")
            if not self._decoding:
                return frame
        elif not frame.rsv1:
            return frame
        self._decoding = not frame.fin
        data = b"".join((frame.data, _EMPTY_BLOCK_TAIL)) if frame.fin else frame.data
        payload = self._inflate(data, max_size, frame.fin)
        if frame.fin and self.remote_no_context_takeover:
            self._decoder = None
        return Frame(frame.opcode, payload, frame.fin, False, frame.rsv2, frame.rsv3)

    def _inflate(self, data: bytes, max_size: int | None, final: bool) -> bytes:
        parts = []
        size = 0
        while True:
            if self._decoder is None:
                self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
            decoder = self._decoder
            # max_length caps the output: inflate stops once it has produced
            # that many bytes and leaves the rest of the input in
            # unconsumed_tail. One byte over the allowance proves the message
            # too big; conversely, output below the cap means all the input was
            # consumed, so unconsumed_tail is empty. 0 means no cap.
            limit = 0 if max_size is None else max(max_size - size, 0) + 1
            try:
                chunk = decoder.decompress(data, limit)
            except zlib.error as exc:
                raise ProtocolError(f"invalid compressed data: {exc}") from exc
            size += len(chunk)
            if max_size is not None and size > max_size:
                raise PayloadTooBig(f"decompressed data exceeds the {max_size} bytes left")
            parts.append(chunk)
            if not decoder.eof:
                break
            # RFC 7692 §7.2.3.4: a peer may end a message with a block that has
            # BFINAL set, which ends the DEFLATE stream; what follows (at least
            # the appended tail) starts a new stream with an empty window, as
            # browsers do (they call inflateReset). Without this, data after
            # the final block would be dropped silently.
            data = decoder.unused_data
            self._decoder = None
            # A peer that omits the 0x00 that §7.2.3.4 puts after the final
            # block leaves only the appended tail: it doesn't start a stream,
            # and feeding it would leave half a block header for the next message.
            if final and data == _EMPTY_BLOCK_TAIL:
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def encode(self, frame: Frame) -> Frame:
        """Compress a data frame; pass control frames through.

        Every data message is compressed: its first frame gets RSV1.
        """
        if frame.opcode in CTRL_OPCODES:
            return frame
        if self._encoder is None:
            self._encoder = zlib.compressobj(wbits=-self._compress_wbits, **self.compress_settings)
        encoder = self._encoder
        # Z_SYNC_FLUSH byte-aligns the output and ends it with an empty stored
        # block, so each frame is decodable on arrival.
        data = encoder.compress(frame.data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if frame.fin:
            # RFC 7692 §7.2.1: remove the trailing 00 00 ff ff. When there was
            # nothing left to flush (an empty last fragment), some zlib
            # versions output nothing: RFC 7692 §7.2.3.6 then sends a single
            # 0x00, an empty stored block once the receiver appends the tail.
            data = data[:-4] or b"\x00"
            if self.local_no_context_takeover:
                self._encoder = None
        return Frame(
            frame.opcode, data, frame.fin, frame.opcode is not OP_CONT, frame.rsv2, frame.rsv3
        )


class _Params(NamedTuple):
    """The parameters of one permessage-deflate offer or response."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int | None
    # True when an offer names the parameter without a value.
    client_max_window_bits: int | bool | None


def _parse_params(params: Sequence[ExtensionParameter], *, offer: bool) -> _Params:
    """Validate and read permessage-deflate parameters (RFC 7692 §7.1).

    Raises:
        InvalidParameterName: For a parameter RFC 7692 doesn't define.
        DuplicateParameter: For a parameter given twice (RFC 7692 §7).
        InvalidParameterValue: For a value that doesn't fit the parameter.
    """
    seen: set[str] = set()
    server_no_context_takeover = client_no_context_takeover = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | bool | None = None
    for name, value in params:
        if name not in _PARAMETER_NAMES:
            raise InvalidParameterName(name)
        if name in seen:
            raise DuplicateParameter(name)
        seen.add(name)
        if name == "server_max_window_bits":
            server_max_window_bits = _parse_window_bits(name, value)
        elif name == "client_max_window_bits":
            # RFC 7692 §7.1.2.2: an offer may name it without a value, to say
            # that the client accepts a window from the server; a response
            # must give the value.
            if offer and value is None:
                client_max_window_bits = True
            else:
                client_max_window_bits = _parse_window_bits(name, value)
        elif value is not None:
            # RFC 7692 §7.1.1: the *_no_context_takeover parameters have no value.
            raise InvalidParameterValue(name, value)
        elif name == "server_no_context_takeover":
            server_no_context_takeover = True
        else:
            client_no_context_takeover = True
    return _Params(
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    )


def _parse_window_bits(name: str, value: str | None) -> int:
    if value is None or value not in _WINDOW_BITS:
        raise InvalidParameterValue(name, value)
    return _WINDOW_BITS[value]


def _check_window_bits(name: str, bits: int) -> None:
    if not 8 <= bits <= 15:
        raise ValueError(f"{name} must be between 8 and 15, got {bits!r}")


def _check_compress_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    settings = dict(settings or {})
    if "wbits" in settings:
        raise ValueError("compress_settings must not contain wbits; set max_window_bits instead")
    return settings


def _already_accepted(accepted_extensions: Sequence[Extension]) -> bool:
    return any(extension.name == PerMessageDeflate.name for extension in accepted_extensions)


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Offers permessage-deflate in a client request and checks the server's answer.

    Args:
        server_no_context_takeover: Ask the server to reset its compressor
            after each message.
        client_no_context_takeover: Promise to reset ours after each message.
        server_max_window_bits: Largest window the server may compress with,
            8-15; ``None`` leaves it to the server (default 15).
        client_max_window_bits: ``True`` to let the server choose our window
            (the parameter without a value), a number 8-15 to also suggest
            one, ``None`` or ``False`` not to offer the parameter.
        compress_settings: Keyword arguments for :func:`zlib.compressobj`,
            without ``wbits``.

    Raises:
        ValueError: When a window size is out of range or ``compress_settings``
            holds ``wbits``.
    """

    name = PerMessageDeflate.name

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compress_settings: Mapping[str, Any] | None = None,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is False:
            client_max_window_bits = None
        if client_max_window_bits is not None and client_max_window_bits is not True:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)

    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the offer, e.g. ``[("client_max_window_bits", None)]``."""
        params: list[ExtensionParameter] = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not None:
            params.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return params

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """Check the server's answer to the offer and build the extension.

        Raises:
            NegotiationError: When permessage-deflate was already accepted or
                the answer doesn't honour the offer.
            InvalidParameterName: For an unknown parameter.
            DuplicateParameter: For a repeated parameter.
            InvalidParameterValue: For a malformed value.
        """
        if _already_accepted(accepted_extensions):
            raise NegotiationError("received duplicate permessage-deflate")
        answer = _parse_params(params, offer=False)

        # RFC 7692 §7.1.1.1: a server accepts an offer with server_no_context_takeover
        # by including it in the response; it may include it unasked.
        if self.server_no_context_takeover and not answer.server_no_context_takeover:
            raise NegotiationError("expected server_no_context_takeover")

        # RFC 7692 §7.1.2.1: a server accepts an offer with server_max_window_bits
        # by answering with the same or a smaller value; it may include it unasked.
        server_max_window_bits = answer.server_max_window_bits
        if self.server_max_window_bits is not None:
            if server_max_window_bits is None:
                raise NegotiationError("expected server_max_window_bits")
            if server_max_window_bits > self.server_max_window_bits:
                raise NegotiationError(
                    f"server_max_window_bits={server_max_window_bits} exceeds the "
                    f"{self.server_max_window_bits} requested"
                )

        # RFC 7692 §7.1.2.2: the response may hold client_max_window_bits only if
        # the offer did, with a value no larger than the offer's.
        client_max_window_bits = answer.client_max_window_bits
        local_max_window_bits = 15
        if client_max_window_bits is not None:
            if self.client_max_window_bits is None:
                raise NegotiationError("unexpected client_max_window_bits")
            if (
                self.client_max_window_bits is not True
                and client_max_window_bits > self.client_max_window_bits
            ):
                raise NegotiationError(
                    f"client_max_window_bits={client_max_window_bits} exceeds the "
                    f"{self.client_max_window_bits} offered"
                )
            local_max_window_bits = int(client_max_window_bits)
        elif self.client_max_window_bits is not None and self.client_max_window_bits is not True:
            # The server ignored our suggestion; a smaller window than the
            # server expects is always decodable, so keep it.
            local_max_window_bits = self.client_max_window_bits

        return PerMessageDeflate(
            remote_no_context_takeover=answer.server_no_context_takeover,
            # RFC 7692 §7.1.1.2: a client that offered client_no_context_takeover
            # may keep its promise even if the server didn't echo it.
            local_no_context_takeover=(
                answer.client_no_context_takeover or self.client_no_context_takeover
            ),
            remote_max_window_bits=15 if server_max_window_bits is None else server_max_window_bits,
            local_max_window_bits=local_max_window_bits,
            compress_settings=self.compress_settings,
        )


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Accepts a client's permessage-deflate offer with what this server can honour.

    Args:
        server_no_context_takeover: Reset our compressor after each message,
            even if the client doesn't ask.
        client_no_context_takeover: Require the client to reset its compressor
            after each message.
        server_max_window_bits: Largest window we compress with, 8-15;
            ``None`` for whatever the client asks (default 15).
        client_max_window_bits: Largest window the client may compress with,
            8-15, sent only when the client's offer names the parameter;
            ``None`` for no limit.
        compress_settings: Keyword arguments for :func:`zlib.compressobj`,
            without ``wbits``.
        require_client_max_window_bits: Decline offers that don't name
            ``client_max_window_bits``, since their client's window can't be
            limited.

    Raises:
        ValueError: When a window size is out of range,
            ``require_client_max_window_bits`` is set without
            ``client_max_window_bits``, or ``compress_settings`` holds ``wbits``.
    """

    name = PerMessageDeflate.name

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: Mapping[str, Any] | None = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is not None:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        elif require_client_max_window_bits:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.require_client_max_window_bits = require_client_max_window_bits

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Answer a client's offer and build the extension (RFC 7692 §7.1).

        Raises:
            NegotiationError: To decline the offer: permessage-deflate was
                already accepted, or the offer lacks ``client_max_window_bits``
                that this server requires.
            InvalidParameterName: For an unknown parameter.
            DuplicateParameter: For a repeated parameter.
            InvalidParameterValue: For a malformed value.
        """
        if _already_accepted(accepted_extensions):
            raise NegotiationError("skipped duplicate permessage-deflate")
        offer = _parse_params(params, offer=True)

        # RFC 7692 §7.1.1: answering with a *_no_context_takeover parameter
        # accepts the client's request, or imposes it when the client didn't ask.
        server_no_context_takeover = (
            offer.server_no_context_takeover or self.server_no_context_takeover
        )
        client_no_context_takeover = (
            offer.client_no_context_takeover or self.client_no_context_takeover
        )

        # RFC 7692 §7.1.2.1: the same or a smaller value than asked; a server
        # may set it even if the client didn't ask.
        server_max_window_bits = _smallest(
            offer.server_max_window_bits, self.server_max_window_bits
        )

        # RFC 7692 §7.1.2.2: only if the offer names it, with a value no larger
        # than the offer's.
        client_max_window_bits: int | None
        if offer.client_max_window_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("required client_max_window_bits")
            client_max_window_bits = None
        elif offer.client_max_window_bits is True:
            client_max_window_bits = self.client_max_window_bits
        else:
            client_max_window_bits = _smallest(
                int(offer.client_max_window_bits), self.client_max_window_bits
            )

        response: list[ExtensionParameter] = []
        if server_no_context_takeover:
            response.append(("server_no_context_takeover", None))
        if client_no_context_takeover:
            response.append(("client_no_context_takeover", None))
        if server_max_window_bits is not None:
            response.append(("server_max_window_bits", str(server_max_window_bits)))
        if client_max_window_bits is not None:
            response.append(("client_max_window_bits", str(client_max_window_bits)))

        extension = PerMessageDeflate(
            remote_no_context_takeover=client_no_context_takeover,
            local_no_context_takeover=server_no_context_takeover,
            remote_max_window_bits=15 if client_max_window_bits is None else client_max_window_bits,
            local_max_window_bits=15 if server_max_window_bits is None else server_max_window_bits,
            compress_settings=self.compress_settings,
        )
        return response, extension


def _smallest(first: int | None, second: int | None) -> int | None:
    """Return the smaller of two optional window sizes, ``None`` if both are."""
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> list[ClientExtensionFactory]:
    """Add a default permessage-deflate factory unless one is there already.

    The default offers ``client_max_window_bits`` without a value, so that the
    server may shrink our window, and compresses with
    :data:`DEFAULT_COMPRESS_SETTINGS`.
    """
    extensions = list(extensions or ())
    if not any(factory.name == PerMessageDeflate.name for factory in extensions):
        extensions.append(
            ClientPerMessageDeflateFactory(compress_settings=DEFAULT_COMPRESS_SETTINGS)
        )
    return extensions


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory]:
    """Add a default permessage-deflate factory unless one is there already.

    The default limits both windows to 4 KiB (12 bits) and compresses with
    :data:`DEFAULT_COMPRESS_SETTINGS`, to keep memory per connection small.
    """
    extensions = list(extensions or ())
    if not any(factory.name == PerMessageDeflate.name for factory in extensions):
        extensions.append(
            ServerPerMessageDeflateFactory(
                server_max_window_bits=_DEFAULT_SERVER_WINDOW_BITS,
                client_max_window_bits=_DEFAULT_SERVER_WINDOW_BITS,
                compress_settings=DEFAULT_COMPRESS_SETTINGS,
            )
        )
    return extensions
