"""The fleet overview over HTTP: tiles, alerts, and the device table's paging, sorting, filtering and search."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from gridpilot.dashboard import fleet_views
from gridpilot.fleet import service as fleet_service
from gridpilot.fleet.models import Device
from tests.dashboard.conftest import Dashboard
from tests.fleet.factories import ack, schedule
from tests.telemetry.factories import points

NOW = datetime.now(UTC)


def tile(html: str, field: str) -> str:
    """The text of a live tile value on the overview."""
    match = re.search(rf'data-fleet-(?:status|field)="{re.escape(field)}"[^>]*>([^<]*)<', html)
    assert match, f"no tile {field}"
    return match.group(1).strip()


def table_ids(html: str) -> list[str]:
    """The device ids of the table's rows, in order."""
    return re.findall(r'<tr data-device="([^"]+)">', html)


async def post_point(dashboard: Dashboard, credential: dict[str, str], device_id: str, **values: object) -> None:
    """One telemetry point stamped a minute ago (the post also counts as the device's contact)."""
    point = {**points(1, start=NOW - timedelta(minutes=1))[0], **values}
    response = await dashboard.api.client.post(
        f"/api/v1/devices/{device_id}/telemetry", json={"points": [point]}, headers=credential
    )
    assert response.status_code == 200, response.text


async def heartbeat(dashboard: Dashboard, credential: dict[str, str], device_id: str, **fields: object) -> None:
    """An agent heartbeat from the device."""
    body = {
        "at": datetime.now(UTC).isoformat(),
        "agent_version": "1.0",
        "driver_state": "ok",
        "outbox_depth": 0,
        "outbox_acks": 0,
        "outbox_telemetry": 0,
        **fields,
    }
    response = await dashboard.api.client.post(f"/api/v1/devices/{device_id}/heartbeat", json=body, headers=credential)
    assert response.status_code == 204, response.text


async def test_tiles_count_devices_by_status_power_and_energy(dashboard: Dashboard) -> None:
    _, charging = await dashboard.api.register_device("bat-1", capacity_kwh=10.0)
    _, discharging = await dashboard.api.register_device("bat-2", capacity_kwh=20.0)
    _, faulty = await dashboard.api.register_device("bat-3")
    await dashboard.api.register_device("bat-4")  # never seen
    await post_point(dashboard, charging, "bat-1", soc_pct=50.0, power_kw=3.0)
    await post_point(dashboard, discharging, "bat-2", soc_pct=25.0, power_kw=-2.0)
    await heartbeat(dashboard, faulty, "bat-3", driver_state="fault", fault="inverter overtemperature")
    async with dashboard.api.app.state.session_factory() as session:  # bat-3 went silent two hours ago
        await session.execute(
            update(Device).where(Device.id == "bat-3").values(last_contact_at=NOW - timedelta(hours=2))
        )
        await session.commit()

    page = await dashboard.viewer.get("/fleet")

    assert page.status_code == 200
    html = page.text
    assert tile(html, "online") == "2"
    assert tile(html, "offline") == "1"
    assert tile(html, "never-seen") == "1"
    assert tile(html, "faulted") == "1"
    assert tile(html, "power.charging_kw") == "3.0"
    assert tile(html, "power.discharging_kw") == "2.0"
    assert tile(html, "energy.stored_kwh") == "10"  # 50 % of 10 kWh + 25 % of 20 kWh
    assert '<script type="application/json" id="fleet-summary-data">' in html
    assert 'id="soc-chart"' in html
    # the alerts name the silent device
    alerts = html[html.index('id="fleet-alerts"') :]
    assert 'href="/devices/bat-3"' in alerts


async def test_the_summary_bins_soc_and_ignores_stale_power_and_older_replays(dashboard: Dashboard) -> None:
    _, one = await dashboard.api.register_device("bat-1")
    _, two = await dashboard.api.register_device("bat-2")
    await post_point(dashboard, one, "bat-1", soc_pct=100.0, power_kw=1.0)
    await post_point(dashboard, two, "bat-2", soc_pct=9.9, power_kw=4.0)
    # a late replay of an older point does not replace the newest
    older = {**points(1, start=NOW - timedelta(minutes=30))[0], "soc_pct": 70.0, "power_kw": -4.0}
    response = await dashboard.api.client.post("/api/v1/devices/bat-2/telemetry", json={"points": [older]}, headers=two)
    assert response.status_code == 200
    app = dashboard.api.app
    liveness = fleet_service.liveness(app.state.settings)
    async with app.state.session_factory() as session:
        summary = await fleet_views.fleet_summary(session=session, now=datetime.now(UTC), liveness=liveness)
        later = await fleet_views.fleet_summary(
            session=session, now=datetime.now(UTC) + timedelta(hours=2), liveness=liveness
        )
    assert summary["soc"]["counts"] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert summary["power"] == {"charging_kw": 5.0, "discharging_kw": 0.0, "net_kw": 5.0, "reporting": 2}
    assert summary["status"]["online"] == 2
    # two hours on, both are offline and their last readings are not power now; the SoC is still the best known
    assert later["power"]["charging_kw"] == 0.0
    assert later["power"]["reporting"] == 0
    assert later["status"]["offline"] == 2
    assert later["energy"]["devices"] == 2


async def test_the_sql_status_agrees_with_the_fleet_services_status(dashboard: Dashboard) -> None:
    for device_id in ("a", "b", "c", "d", "e"):
        await dashboard.api.register_device(device_id)
    app = dashboard.api.app
    liveness = fleet_service.liveness(app.state.settings)
    now = datetime.now(UTC)
    contacts = {
        "b": (now - timedelta(seconds=10), None),
        "c": (now - liveness.offline_after - timedelta(seconds=1), None),
        "d": (now - timedelta(seconds=5), now - liveness.link_grace - timedelta(seconds=1)),
        "e": (now - timedelta(seconds=5), now - timedelta(seconds=1)),
    }
    async with app.state.session_factory() as session:
        for device_id, (contact, lost) in contacts.items():
            await session.execute(
                update(Device).where(Device.id == device_id).values(last_contact_at=contact, link_offline_since=lost)
            )
        await session.commit()
        from sqlalchemy import select

        rows = await session.execute(select(Device, fleet_service.status_expression(now=now, liveness=liveness)))
        found = {
            device.id: (status, fleet_service.device_status(device, now=now, liveness=liveness).value)
            for device, status in rows
        }
    assert {k: v[0] for k, v in found.items()} == {
        "a": "never-seen",
        "b": "online",
        "c": "offline",
        "d": "offline",
        "e": "online",
    }
    assert all(sql == python for sql, python in found.values())


async def _fleet_of(dashboard: Dashboard, count: int) -> None:
    for i in range(count):
        await dashboard.api.register_device(
            f"dev-{i:03d}", name=f"Battery {'north' if i % 2 else 'south'} {i}", site="alpha" if i < 5 else "beta"
        )


async def test_the_table_pages_on_the_server(dashboard: Dashboard) -> None:
    await _fleet_of(dashboard, 60)
    first = await dashboard.admin.get("/fleet")
    assert table_ids(first.text) == [f"dev-{i:03d}" for i in range(50)]
    assert "1–50 of 60 devices · page 1 of 2" in first.text
    second = await dashboard.admin.get("/fleet/devices?page=2", headers={"HX-Request": "true"})
    assert second.status_code == 200
    assert table_ids(second.text) == [f"dev-{i:03d}" for i in range(50, 60)]
    assert "<html" not in second.text  # a fragment
    assert second.headers["HX-Replace-Url"] == "/fleet?page=2"
    assert 'hx-swap-oob="true"' in second.text


async def test_sorting_filtering_and_search(dashboard: Dashboard) -> None:
    await _fleet_of(dashboard, 12)
    htmx = {"HX-Request": "true"}
    descending = await dashboard.admin.get("/fleet/devices?sort=id&order=desc", headers=htmx)
    assert table_ids(descending.text)[:2] == ["dev-011", "dev-010"]
    assert 'aria-sort="descending"' in descending.text
    by_site = await dashboard.admin.get("/fleet/devices?site=alpha", headers=htmx)
    assert table_ids(by_site.text) == [f"dev-{i:03d}" for i in range(5)]
    searched = await dashboard.admin.get("/fleet/devices?q=NORTH", headers=htmx)
    assert table_ids(searched.text) == [f"dev-{i:03d}" for i in range(1, 12, 2)]
    never_seen = await dashboard.admin.get("/fleet/devices?status=never-seen&q=dev-00", headers=htmx)
    assert len(table_ids(never_seen.text)) == 10
    online = await dashboard.admin.get("/fleet/devices?status=online", headers=htmx)
    assert table_ids(online.text) == []
    assert "No devices match." in online.text
    # LIKE wildcards are searched for literally
    assert table_ids((await dashboard.admin.get("/fleet/devices?q=%25", headers=htmx)).text) == []
    assert table_ids((await dashboard.admin.get("/fleet/devices?q=dev_0", headers=htmx)).text) == []


async def test_ugly_table_parameters_get_a_note_and_a_sane_default(dashboard: Dashboard) -> None:
    await _fleet_of(dashboard, 3)
    cases = {
        "sort=password&order=sideways": (
            "Cannot sort by &#39;password&#39;; sorted by ID.",
            ["dev-000", "dev-001", "dev-002"],
        ),
        "page=-1": ("Pages start at 1", ["dev-000", "dev-001", "dev-002"]),
        "page=abc": ("is not a number", ["dev-000", "dev-001", "dev-002"]),
        "page=99": ("There are only 1 page(s)", ["dev-000", "dev-001", "dev-002"]),
        "status=bogus": ("Unknown status &#39;bogus&#39;", ["dev-000", "dev-001", "dev-002"]),
        "q=" + "x" * 500: ("cut to its first 100 characters", []),
        "q=%3Cscript%3Ealert(1)%3C/script%3E": ("No devices match.", []),
    }
    for query, (note, ids) in cases.items():
        for path in ("/fleet", "/fleet/devices"):
            response = await dashboard.viewer.get(f"{path}?{query}", headers={"HX-Request": "true"})
            assert response.status_code == 200, (query, response.text)
            assert note in response.text, query
            assert table_ids(response.text) == ids, query
            assert "<script>alert(1)" not in response.text


async def test_the_fragment_address_without_htmx_goes_to_the_overview(dashboard: Dashboard) -> None:
    response = await dashboard.viewer.get("/fleet/devices?status=online&page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/fleet?status=online&page=2"


async def test_alerts_list_failed_executions_and_refused_schedules(dashboard: Dashboard) -> None:
    _, credential = await dashboard.api.register_device("bat-1")
    created = await dashboard.api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=dashboard.api.admin)
    assert created.status_code == 201, created.text
    stored = await dashboard.api.client.get(
        f"/api/v1/schedules/{created.json()['accepted'][0]['schedule_id']}", headers=dashboard.api.admin
    )
    interval_id = stored.json()["intervals"][0]["id"]
    acked = await dashboard.api.client.post(
        "/api/v1/devices/bat-1/acks",
        json={"acks": [ack(interval_id, "failed", message="inverter <b>tripped</b>")]},
        headers=credential,
    )
    assert acked.status_code == 200, acked.text
    refusal = {
        "version": 1,
        "at": datetime.now(UTC).isoformat(),
        "violations": [{"pointer": "/intervals/0/rate_kw", "code": "rate", "message": "too fast"}],
    }
    refused = await dashboard.api.client.post(
        "/api/v1/devices/bat-1/schedule-rejections", json=refusal, headers=credential
    )
    assert refused.status_code == 202, refused.text

    alerts = await dashboard.viewer.get("/fleet/alerts", headers={"HX-Request": "true"})

    assert alerts.status_code == 200
    assert "inverter &lt;b&gt;tripped&lt;/b&gt;" in alerts.text
    assert f"interval {interval_id}" in alerts.text
    assert "version 1 · 1 violation" in alerts.text
    assert "too fast" in alerts.text


async def test_a_logged_out_browser_is_sent_to_the_login(dashboard: Dashboard) -> None:
    dashboard.viewer.cookies.clear()
    for path in ("/fleet", "/fleet/alerts", "/fleet/devices?page=2"):
        response = await dashboard.viewer.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
