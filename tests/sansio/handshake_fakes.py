"""Fake extensions and factories for the handshake tests: they record what they're given."""

from __future__ import annotations

from collections.abc import Sequence

from websockets_sync.exceptions import NegotiationError
from websockets_sync.sansio.extensions.base import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameter,
    ServerExtensionFactory,
)
from websockets_sync.sansio.frames import Frame

__all__ = ["FakeClientFactory", "FakeExtension", "FakeServerFactory"]


class FakeExtension(Extension):
    """An extension that remembers the parameters it was negotiated with."""

    def __init__(self, name: str, params: Sequence[ExtensionParameter]) -> None:
        self.name = name
        self.params = list(params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FakeExtension):
            return NotImplemented
        return (self.name, self.params) == (other.name, other.params)

    def __repr__(self) -> str:
        return f"FakeExtension({self.name!r}, {self.params!r})"

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame

    def encode(self, frame: Frame) -> Frame:
        return frame


class FakeClientFactory(ClientExtensionFactory):
    """Offers ``request_params``; accepts a response unless its params contain ``reject``."""

    def __init__(self, name: str, request_params: Sequence[ExtensionParameter] = ()) -> None:
        self.name = name
        self.request_params = list(request_params)
        self.calls: list[tuple[list[ExtensionParameter], list[Extension]]] = []

    def get_request_params(self) -> list[ExtensionParameter]:
        return list(self.request_params)

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        self.calls.append((list(params), list(accepted_extensions)))
        if any(name == "reject" for name, _ in params):
            raise NegotiationError(f"{self.name} rejects {params}")
        return FakeExtension(self.name, params)


class FakeServerFactory(ServerExtensionFactory):
    """Accepts an offer unless its params contain ``reject``; answers with ``response_params``."""

    def __init__(self, name: str, response_params: Sequence[ExtensionParameter] = ()) -> None:
        self.name = name
        self.response_params = list(response_params)
        self.calls: list[tuple[list[ExtensionParameter], list[Extension]]] = []

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        self.calls.append((list(params), list(accepted_extensions)))
        if any(name == "reject" for name, _ in params):
            raise NegotiationError(f"{self.name} declines {params}")
        return list(self.response_params), FakeExtension(self.name, params)
