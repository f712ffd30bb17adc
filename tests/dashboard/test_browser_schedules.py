"""Schedules in a real headless Chromium: an upload with an error pointed out on its row, fixed, previewed, sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.db import utcnow
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet.schemas import ScheduleSummary
from tests.dashboard.conftest import ADMIN, LiveServer, log_in_browser, screenshot, seed_batteries, seed_server

pytestmark = pytest.mark.browser


def csv_text(rate_on_line_3: str) -> str:
    base = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)

    def at(hours: int) -> str:
        return (base + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")

    return "\n".join(
        [
            "device_id,start,end,mode,rate_kw",
            f"bat-a,{at(0)},{at(1)},charge,400",
            f"bat-a,{at(1)},{at(2)},discharge,{rate_on_line_3}",
            f"bat-b,{at(0)},{at(2)},2,250",
            f"bat-b,{at(3)},{at(4)},charge,500",
        ]
    )


def stored(live_server: LiveServer, device_id: str) -> list[ScheduleSummary]:
    found: list[ScheduleSummary] = []

    async def read(factory: async_sessionmaker[AsyncSession]) -> None:
        async with factory() as session:
            found.extend(await schedule_service.history(session=session, device_id=device_id, limit=10, now=utcnow()))

    seed_server(live_server.settings, read)
    return found


def test_an_operator_fixes_an_upload_previews_it_and_submits_it(live_server: LiveServer, page: Page) -> None:
    async def devices(factory: async_sessionmaker[AsyncSession]) -> None:
        async with factory() as session:
            await seed_batteries(session, ["bat-a", "bat-b"], now=utcnow())
            await session.commit()

    seed_server(live_server.settings, devices)
    log_in_browser(page, live_server.url, *ADMIN)
    page.get_by_role("link", name="Schedules").click()
    expect(page.get_by_role("heading", name="Schedules", exact=True)).to_be_visible()

    page.get_by_label("…or paste them here").fill(csv_text("1500"))
    page.get_by_role("button", name="Preview").click()
    bad_row = page.locator('tr[data-where="line 3"]')
    expect(bad_row.locator('td[aria-invalid="true"]')).to_have_count(1)
    expect(bad_row).to_contain_text("rate_kw 1500 exceeds the device's maximum discharge rate of 1000 kW")
    expect(page.locator('tr[data-where="line 2"] td[aria-invalid="true"]')).to_have_count(0)
    expect(page.get_by_role("alert")).to_contain_text("1 problem")
    expect(page.get_by_role("button", name="Submit 2 schedules")).to_have_count(0)
    screenshot(page, "schedules-error")

    page.get_by_label("…or paste them here").fill(csv_text("800"))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("status").filter(has_text="no problems found")).to_be_visible()
    expect(page.locator("#schedule-chart canvas")).to_have_count(1)
    assert stored(live_server, "bat-a") == []  # a preview stores nothing
    screenshot(page, "schedules-preview")

    page.get_by_role("button", name="Submit 2 schedules").click()
    expect(page.get_by_role("heading", name="Submitted")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Stored 2 schedules (4 intervals)")).to_be_visible()
    expect(page.get_by_role("link", name="bat-a")).to_have_attribute("href", "/devices/bat-a")
    screenshot(page, "schedules-submitted")
    versions = stored(live_server, "bat-a")
    assert [(v.version, v.created_by, v.source) for v in versions] == [(1, "operator:root", "dashboard")]
    assert [v.version for v in stored(live_server, "bat-b")] == [1]
