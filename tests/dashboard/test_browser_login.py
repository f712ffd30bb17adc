"""Logging in through a real headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import ADMIN, LiveServer, log_in_browser, screenshot

pytestmark = pytest.mark.browser


def test_an_operator_logs_in_and_the_live_connection_comes_up(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/fleet")
    expect(page).to_have_url(f"{live_server.url}/login?next=/fleet")
    screenshot(page, "login")
    log_in_browser(page, live_server.url, *ADMIN)
    expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("live")
