"""Every page at a phone's width, and what a keyboard or a screen reader needs: no page pushed sideways,
every form control named by a label, a way to skip to the content."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import ADMIN, LiveApi, LiveServer, log_in_browser, screenshot
from tests.dashboard.test_browser_fleet_device import seed

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375
UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("path", ["/fleet", "/devices/bat-1", "/schedules", "/market"])
def test_the_page_fits_a_phone_and_names_every_control(
    live_server: LiveServer, live_api: LiveApi, page: Page, path: str
) -> None:
    seed(live_api)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 812})
    log_in_browser(page, live_server.url, *ADMIN)
    page.goto(f"{live_server.url}{path}")
    expect(page.locator("main h1")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, "something pushes the page sideways"
    assert page.evaluate(UNNAMED_CONTROLS) == []

    page.keyboard.press("Tab")  # the first stop is the skip link, which takes the focus to the content
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    screenshot(page, f"phone{path.replace('/', '-')}")
