"""The version of websockets_sync, in one place.

Packaging reads it statically (``pyproject.toml``) and ``websockets_sync.__version__``
re-exports it.
"""

from __future__ import annotations

__all__ = ["version"]

version = "0.1.0"
