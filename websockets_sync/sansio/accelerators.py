"""The optional C accelerators: whether to use one.

Each is built at install time when a compiler is there, and each has a
pure-Python fallback. ``WEBSOCKETS_SYNC_PURE_PYTHON=1``, set before the
import, ignores them all.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["load"]


def load(name: str) -> ModuleType | None:
    """The accelerator module ``name`` if it was built and not switched off, else ``None``."""
    if os.environ.get("WEBSOCKETS_SYNC_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
