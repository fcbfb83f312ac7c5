"""Headless Chromium (Debian's ``chromium``) as a client of our server.

One page load per module: the module-scoped ``browser_run`` fixture serves the
page, runs Chromium until the page reports, kills it and closes our servers;
the tests (inherited from BrowserChecks) check the report and what our
servers saw. See browser.py for the page's cases.
"""

from __future__ import annotations

import pytest

from .browser import BrowserChecks, BrowserRun, PageServer, our_servers, page_config, run_browser
from .helpers import SECONDS, assert_released, snapshot

# The first test's setup runs the browser: allow more than the default 60 s.
pytestmark = pytest.mark.timeout(120 * SECONDS)


@pytest.fixture(scope="module")
def browser_run(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> BrowserRun:
    before = snapshot()
    with our_servers() as servers, PageServer() as page:
        page.config = page_config({prefix: s.uri("") for prefix, s in servers.items()})
        url = f"http://127.0.0.1:{page.port}/"
        run = run_browser(chromium, url, page, servers, tmp_path_factory.mktemp("chromium"))
    # The autouse leak check doesn't cover module-scoped fixtures.
    assert_released(before)
    return run


class TestChromium(BrowserChecks):
    def test_user_agent(self, browser_run: BrowserRun) -> None:
        assert "Chrome/" in browser_run.report["userAgent"]
