"""A device's page over HTTP: header, delivery state, outbox, timeline and telemetry data, history, 404."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from gridpilot.dependencies import get_now
from tests.dashboard.conftest import Dashboard
from tests.dashboard.test_fleet_pages import heartbeat, post_point
from tests.fleet.factories import ack, next_quarter_hour, schedule


def chart_data(html: str) -> dict[str, Any]:
    """The JSON the page hands its charts."""
    match = re.search(r'<script type="application/json" id="device-chart-data">(.*?)</script>', html, re.S)
    assert match, "no chart data on the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


START = next_quarter_hour()


def look_at(dashboard: Dashboard, moment: datetime) -> None:
    """From now on the server's clock reads `moment` (schedules cannot be stored in the past, so time moves on)."""
    dashboard.api.app.dependency_overrides[get_now] = lambda: moment


async def _scheduled_device(dashboard: Dashboard) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """bat-1 with four 15-minute intervals from START; returns its credential and intervals."""
    _, credential = await dashboard.api.register_device("bat-1", site="harbour", tags=["pilot", "north"])
    body = schedule("bat-1", start=START, count=4, rate_kw=2.0)
    created = await dashboard.api.client.post("/api/v1/schedules", json=body, headers=dashboard.api.admin)
    assert created.status_code == 201, created.text
    schedule_id = created.json()["accepted"][0]["schedule_id"]
    stored = await dashboard.api.client.get(f"/api/v1/schedules/{schedule_id}", headers=dashboard.api.admin)
    return credential, stored.json()["intervals"]


async def test_the_device_page_shows_plan_against_execution_and_telemetry(dashboard: Dashboard) -> None:
    credential, intervals = await _scheduled_device(dashboard)
    acks = [
        ack(intervals[0]["id"], "executed", energy_kwh=0.5),
        ack(intervals[1]["id"], "failed", message="<i>trip</i>"),
    ]
    response = await dashboard.api.client.post("/api/v1/devices/bat-1/acks", json={"acks": acks}, headers=credential)
    assert response.status_code == 200, response.text
    await post_point(dashboard, credential, "bat-1", soc_pct=61.0, power_kw=-1.5, temperature_c=31.5)
    await heartbeat(dashboard, credential, "bat-1", outbox_depth=17, schedule_version=1)
    look_at(dashboard, START + timedelta(minutes=40))  # two intervals acked, one running, one ahead

    page = await dashboard.viewer.get("/devices/bat-1")

    assert page.status_code == 200
    html = page.text
    assert "Battery bat-1" in html and "harbour" in html
    assert '<span class="tag">north</span>' in html and '<span class="tag">pilot</span>' in html
    assert 'id="device-status" class="status status-offline"' in html  # silent for 40+ minutes by then
    assert 'data-live="device:bat-1"' in html
    assert "schedule v1: delivered" in html  # the heartbeat's version in force marks it delivered
    assert re.search(r'<span class="value">17</span><span class="label">outbox depth', html)
    assert "&lt;i&gt;trip&lt;/i&gt;" in html and "<i>trip</i>" not in html
    data = chart_data(html)
    categories = [i["category"] for i in data["timeline"]["intervals"]]
    assert categories == ["executed", "failed", "planned", "planned"]
    assert [i["kw"] for i in data["timeline"]["intervals"]] == [2.0, -2.0, 2.0, -2.0]
    assert data["timeline"]["counts"]["executed"] == 1
    assert data["telemetry"]["points"] == 1
    assert data["telemetry"]["power"][0][1] == -1.5
    assert data["telemetry"]["temperature"][0][1] == 31.5
    assert 'id="timeline-chart"' in html and 'id="soc-chart"' in html


async def test_a_newer_version_cuts_the_plan_where_it_takes_over(dashboard: Dashboard) -> None:
    _, intervals = await _scheduled_device(dashboard)
    takeover = datetime.fromisoformat(intervals[2]["start"])
    newer = schedule("bat-1", start=takeover, count=2, rate_kw=1.0, alternate=False)
    created = await dashboard.api.client.post("/api/v1/schedules", json=newer, headers=dashboard.api.admin)
    assert created.status_code == 201, created.text
    look_at(dashboard, START + timedelta(minutes=35))

    data = chart_data((await dashboard.admin.get("/devices/bat-1")).text)

    planned = data["timeline"]["intervals"]
    assert [(i["version"], i["kw"]) for i in planned] == [(1, 2.0), (1, -2.0), (2, 1.0), (2, 1.0)]
    assert planned[1]["category"] == "expired"  # it ended without an ack
    page = (await dashboard.admin.get("/devices/bat-1")).text
    history = page[page.index('id="schedule-history"') :]
    assert history.index("<td>v2</td>") < history.index("<td>v1</td>")  # newest first


async def test_the_window_can_be_chosen_and_a_bad_one_gets_a_note(dashboard: Dashboard) -> None:
    await dashboard.api.register_device("bat-1")
    for hours, note in (
        ("6", None),
        ("abc", "is not a number"),
        ("-5", "is not offered"),
        ("100000", "is not offered"),
    ):
        response = await dashboard.viewer.get(f"/devices/bat-1?hours={hours}")
        assert response.status_code == 200, hours
        data = chart_data(response.text)
        span = data["telemetry"]["until"] - data["telemetry"]["since"]
        assert span == (12 if note is None else 48) * 3600 * 1000
        if note:
            assert note in response.text


async def test_an_unknown_device_is_a_404_page(dashboard: Dashboard) -> None:
    response = await dashboard.viewer.get("/devices/%3Cscript%3Enope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no device &lt;script&gt;nope." in response.text
    assert 'href="/fleet"' in response.text


async def test_a_logged_out_browser_is_sent_to_the_login(dashboard: Dashboard) -> None:
    await dashboard.api.register_device("bat-1")
    dashboard.admin.cookies.clear()
    response = await dashboard.admin.get("/devices/bat-1?hours=6")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/devices/bat-1%3Fhours%3D6"


async def test_a_device_without_any_data_still_renders(dashboard: Dashboard) -> None:
    await dashboard.api.register_device("bat-1")
    response = await dashboard.viewer.get("/devices/bat-1")
    assert response.status_code == 200
    assert "No schedules yet." in response.text
    assert "No executions reported yet." in response.text
    assert "status status-never-seen" in response.text
    data = chart_data(response.text)
    assert data["timeline"]["intervals"] == [] and data["telemetry"]["soc"] == []
