"""Which optional C accelerators are used: websockets_sync.sansio.accelerators."""

from __future__ import annotations

import pytest

from websockets_sync.sansio import accelerators

from ..utils import accelerator


def test_a_built_accelerator_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSOCKETS_SYNC_PURE_PYTHON", raising=False)
    accelerator("websockets_sync._nowait", "send")  # skipped if it wasn't built
    module = accelerators.load("websockets_sync._nowait")
    assert module is not None and module.__name__ == "websockets_sync._nowait"


def test_switched_off_accelerators_are_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSOCKETS_SYNC_PURE_PYTHON", "1")
    assert accelerators.load("websockets_sync._nowait") is None


def test_a_missing_accelerator_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSOCKETS_SYNC_PURE_PYTHON", raising=False)
    assert accelerators.load("websockets_sync._not_built") is None
