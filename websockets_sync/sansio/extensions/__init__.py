"""WebSocket extensions (RFC 6455 §9): the interface and permessage-deflate."""

from __future__ import annotations

__all__: list[str] = []
