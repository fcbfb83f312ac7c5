"""Fixtures of the interop tests: the external peers, found or installed once per session.

A missing peer skips its tests with the reason, or fails them under CI=true
(``.ci/run`` installs them: see there).
"""

from __future__ import annotations

import shutil

import pytest

from .helpers import missing, require
from .processes import NODE_CACHE, find_chromium, find_nginx, install_node_ws


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable."""
    return require(shutil.which("node"), "node is not installed (apt-get install nodejs npm)")


@pytest.fixture(scope="session")
def node_ws(node: str) -> str:
    """node, once the `ws` package is installed in NODE_CACHE (npm install, the first time)."""
    failure = install_node_ws()
    if failure is not None:
        missing(f"{failure} (into {NODE_CACHE})")
    return node


@pytest.fixture(scope="session")
def nginx() -> str:
    """The nginx executable."""
    return require(find_nginx(), "nginx is not installed (apt-get install nginx)")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium executable."""
    return require(find_chromium(), "chromium is not installed (apt-get install chromium)")
