"""The sans-I/O core: WebSocket framing, handshakes and state, without sockets or threads."""

from __future__ import annotations

__all__: list[str] = []
