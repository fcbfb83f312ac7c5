"""The interface that WebSocket extensions implement (RFC 6455 §9).

An extension is negotiated in the opening handshake by a factory, one per
role, and then transforms frames: :meth:`Extension.encode` on the way out,
:meth:`Extension.decode` on the way in, in the order of negotiation.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..frames import Frame

__all__ = [
    "ClientExtensionFactory",
    "Extension",
    "ExtensionParameter",
    "ServerExtensionFactory",
]

#: One ``name[=value]`` parameter of a Sec-WebSocket-Extensions entry.
ExtensionParameter = tuple[str, str | None]


class Extension:
    """A negotiated extension, active on one connection."""

    #: The registered extension name, e.g. ``"permessage-deflate"``.
    name: str

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Transform a frame received from the peer.

        Raises:
            PayloadTooBig: When the decoded payload would exceed ``max_size``.
            ProtocolError: When the frame is not valid for this extension.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """Transform a frame about to be sent to the peer."""
        raise NotImplementedError


class ClientExtensionFactory:
    """Offers an extension in a client request and accepts the server's answer."""

    name: str

    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters to offer in the request."""
        raise NotImplementedError

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """Build the extension from the parameters the server accepted.

        Raises:
            NegotiationError: When the parameters are not acceptable.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """Accepts or declines an extension that a client offers."""

    name: str

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Return the parameters for the response and the extension.

        Raises:
            NegotiationError: To decline this offer; the server then tries the
                next offer or goes on without the extension.
        """
        raise NotImplementedError
