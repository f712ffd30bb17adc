"""A browser on a device page through a server restart: it reconnects by itself, resynchronizes, and goes on live."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.telemetry import service as telemetry_service
from gridpilot.telemetry.schemas import TelemetryPointIn
from tests.dashboard.conftest import ADMIN, LiveApi, LiveServer, log_in_browser, seed_server, start_server
from tests.dashboard.test_browser_fleet_device import post_points
from tests.telemetry.factories import points

pytestmark = pytest.mark.browser


def store_point_at(soc_pct: float) -> Callable[[async_sessionmaker[AsyncSession]], Coroutine[Any, Any, None]]:
    """Seeding work: one telemetry point of bat-1 written straight to the database (no event goes out)."""
    point = TelemetryPointIn.model_validate({**points(1, start=datetime.now(UTC))[0], "soc_pct": soc_pct})

    async def store(factory: async_sessionmaker[AsyncSession]) -> None:
        async with factory() as session:
            await telemetry_service.record(session=session, device_id="bat-1", points=[point], now=datetime.now(UTC))
            await session.commit()

    return store


def test_the_page_reconnects_after_a_server_restart_and_shows_new_events_without_reload(
    live_server: LiveServer, live_api: LiveApi, page: Page
) -> None:
    credential = live_api.register_device("bat-1")
    post_points(live_api, "bat-1", credential, 3, soc_pct=40.0)
    log_in_browser(page, live_server.url, *ADMIN)
    page.goto(f"{live_server.url}/devices/bat-1")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#now-soc")).to_have_text("40")

    live_server.stop()
    expect(page.locator("#live-state")).to_have_text("reconnecting…")
    seed_server(live_server.settings, store_point_at(52.0))  # while the page is cut off: only a resync shows it
    port = int(live_server.url.rsplit(":", 1)[1])
    with page.expect_navigation(timeout=20_000):  # the device page resynchronizes by reloading itself
        restarted = start_server(live_server.settings, port)
    try:
        expect(page.locator("#live-state")).to_have_text("live")
        expect(page.locator("#now-soc")).to_have_text("52")
        page.evaluate("window.loadedOnce = true")  # gone if the page reloads again
        post_points(live_api, "bat-1", credential, 1, soc_pct=63.0)
        expect(page.locator("#now-soc")).to_have_text("63")
        assert page.evaluate("window.loadedOnce") is True  # updated in place, not reloaded
    finally:
        restarted.stop()
