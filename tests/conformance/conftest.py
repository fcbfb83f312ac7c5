"""Fixtures of the conformance tests."""

from __future__ import annotations

import pytest

from .peer import ROLES


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    """Run a case against our server and against our client."""
    return request.param  # type: ignore[no-any-return]
