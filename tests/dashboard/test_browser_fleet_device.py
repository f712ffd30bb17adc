"""The fleet overview and a device page in a real headless Chromium: charts, table, click-through, live updates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import ADMIN, LiveApi, LiveServer, log_in_browser, screenshot
from tests.fleet.factories import ack, next_quarter_hour, schedule
from tests.telemetry.factories import points

pytestmark = pytest.mark.browser


def post_points(api: LiveApi, device_id: str, credential: dict[str, str], count: int, **values: object) -> None:
    """`count` points a minute apart ending now, through the API."""
    start = datetime.now(UTC) - timedelta(minutes=count)
    batch = [{**point, **values} for point in points(count, start=start, step=timedelta(minutes=1))]
    response = api.post(f"/api/v1/devices/{device_id}/telemetry", {"points": batch}, credential)
    assert response.status_code == 200, response.text


def seed(api: LiveApi) -> dict[str, dict[str, str]]:
    """A small fleet: two reporting devices on two sites, one never seen; bat-1 has a schedule and an ack."""
    credentials = {
        "bat-1": api.register_device("bat-1", site="harbour", tags=["pilot"]),
        "bat-2": api.register_device("bat-2", site="hill"),
        "bat-3": api.register_device("bat-3", site="hill"),
    }
    post_points(api, "bat-1", credentials["bat-1"], 30)
    post_points(api, "bat-2", credentials["bat-2"], 5, soc_pct=15.0, power_kw=-2.0)
    created = api.post("/api/v1/schedules", schedule("bat-1", start=next_quarter_hour(), count=8), api.admin)
    assert created.status_code == 201, created.text
    stored = api.get(f"/api/v1/schedules/{created.json()['accepted'][0]['schedule_id']}").json()
    acked = api.post("/api/v1/devices/bat-1/acks", {"acks": [ack(stored["intervals"][0]["id"])]}, credentials["bat-1"])
    assert acked.status_code == 200, acked.text
    return credentials


def expect_chart(page: Page, selector: str) -> None:
    """ECharts drew into the element (it renders to a canvas)."""
    expect(page.locator(f"{selector} canvas").first).to_be_attached()


def test_the_fleet_overview_searches_sorts_goes_live_and_leads_to_a_device(
    live_server: LiveServer, live_api: LiveApi, page: Page
) -> None:
    credentials = seed(live_api)
    log_in_browser(page, live_server.url, *ADMIN)
    expect(page.locator("#live-state")).to_have_text("live")
    expect_chart(page, "#soc-chart")
    expect(page.locator('[data-fleet-status="online"]')).to_have_text("2")
    rows = page.locator("#device-table tbody tr")
    expect(rows).to_have_count(3)

    page.get_by_label("Search").fill("bat-2")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/fleet\?q=bat-2$"))
    page.get_by_label("Search").fill("")
    expect(rows).to_have_count(3)

    page.get_by_role("link", name="SoC").click()
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("SoC")
    expect(rows.first).to_have_attribute("data-device", "bat-2")  # 15 % is the lowest
    page.get_by_role("link", name="SoC").click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("SoC")
    expect(page).to_have_url(re.compile(r"sort=soc&order=desc"))

    page.get_by_label("Status").select_option("never-seen")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-device", "bat-3")
    page.get_by_label("Status").select_option("")
    expect(rows).to_have_count(3)

    post_points(live_api, "bat-2", credentials["bat-2"], 1, soc_pct=16.0, power_kw=-2.5)  # arrives live
    expect(page.locator("#activity li", has_text="bat-2").first).to_be_visible()
    screenshot(page, "fleet")

    page.locator("#device-table").get_by_role("link", name="bat-1").click()
    expect(page).to_have_url(f"{live_server.url}/devices/bat-1")
    expect(page.get_by_role("heading", name=re.compile("Battery bat-1"))).to_be_visible()

    browser = page.context.browser
    assert browser is not None
    phone = browser.new_context(viewport={"width": 375, "height": 812}, storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(f"{live_server.url}/fleet")
    expect_chart(small, "#soc-chart")
    expect(small.locator("#device-table tbody tr")).to_have_count(3)
    assert small.evaluate("document.documentElement.scrollWidth") <= 375  # nothing pushes the page sideways
    screenshot(small, "fleet-phone")
    phone.close()


def test_the_device_page_draws_plan_and_telemetry_and_follows_live_events(
    live_server: LiveServer, live_api: LiveApi, page: Page
) -> None:
    credentials = seed(live_api)
    log_in_browser(page, live_server.url, *ADMIN)
    page.goto(f"{live_server.url}/devices/bat-1")
    expect(page.locator("#live-state")).to_have_text("live")
    for chart in ("#timeline-chart", "#soc-chart", "#power-chart", "#temperature-chart"):
        expect_chart(page, chart)
    expect(page.locator('[data-timeline-count="executed"]')).to_have_text("1")
    expect(page.locator("#schedule-history tbody tr")).to_have_count(1)

    post_points(live_api, "bat-1", credentials["bat-1"], 1, soc_pct=77.0, power_kw=3.5, temperature_c=29.0)
    expect(page.locator("#now-soc")).to_have_text("77")
    expect(page.locator("#now-power")).to_have_text("+3.5")
    schedule_id = live_api.get("/api/v1/devices/bat-1/schedules").json()["items"][0]["id"]
    second = live_api.get(f"/api/v1/schedules/{schedule_id}").json()["intervals"][1]["id"]
    failed = ack(second, "failed", message="<b>inverter trip</b>")
    assert live_api.post("/api/v1/devices/bat-1/acks", {"acks": [failed]}, credentials["bat-1"]).status_code == 200
    expect(page.locator("#executions tbody tr.live-row", has_text="<b>inverter trip</b>")).to_be_visible()
    expect(page.locator('[data-timeline-count="failed"]')).to_have_text("1")
    screenshot(page, "device")

    page.goto(f"{live_server.url}/devices/no-such-device")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
