"""Fixtures shared by the sans-I/O tests."""

from __future__ import annotations

import pytest

from websockets_sync.sansio.protocol import Side


@pytest.fixture(params=[Side.SERVER, Side.CLIENT], ids=["server", "client"])
def side(request: pytest.FixtureRequest) -> Side:
    """Run a test for each role."""
    return request.param  # type: ignore[no-any-return]
