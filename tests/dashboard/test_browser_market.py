"""The market page in a real headless Chromium, on stored prices, forecasts, plans and cleared bids."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.db import utcnow
from tests.dashboard.conftest import ADMIN, LiveServer, log_in_browser, screenshot, seed_market_data, seed_server

pytestmark = pytest.mark.browser
CHARTS = ("prices", "mae", "positions", "bids", "revenue", "value")


def test_the_market_page_draws_every_chart(live_server: LiveServer, page: Page) -> None:
    day = (utcnow() + timedelta(days=1)).date()

    async def seed(factory: async_sessionmaker[AsyncSession]) -> None:
        await seed_market_data(factory, day=day)

    seed_server(live_server.settings, seed)
    log_in_browser(page, live_server.url, *ADMIN)
    page.get_by_role("link", name="Market").click()
    expect(page.get_by_role("heading", name="Market TB")).to_be_visible()
    for chart in CHARTS:
        expect(page.locator(f'[data-chart="{chart}"] canvas')).to_have_count(1)
    expect(page.get_by_label("Market", exact=True)).to_have_value("TB")
    screenshot(page, "market")
    page.get_by_label("From (market day)").fill((day - timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{live_server.url}/market?market=TB&from={day - timedelta(days=2)}&to={day}")
    expect(page.locator('[data-chart="bids"] canvas')).to_have_count(1)
