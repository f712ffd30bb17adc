"""Schedules API: strict validation, batches, versioning, the device's view with ETag."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from gridpilot.app import create_app
from gridpilot.dependencies import get_now
from tests.conftest import Api
from tests.fleet.factories import ack, next_quarter_hour, schedule
from tests.telemetry.factories import points


async def test_single_schedule_is_stored_with_pending_intervals(api: Api) -> None:
    await api.register_device("bat-1")
    response = await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    assert response.status_code == 201, response.text
    accepted = response.json()["accepted"]
    assert [(a["device_id"], a["version"], a["intervals"]) for a in accepted] == [("bat-1", 1, 4)]
    stored = (await api.client.get(f"/api/v1/schedules/{accepted[0]['schedule_id']}", headers=api.viewer)).json()
    assert [i["status"] for i in stored["intervals"]] == ["pending"] * 4
    assert stored["intervals"][0]["start"].endswith("Z")


async def test_offsets_are_normalized_to_utc(api: Api) -> None:
    await api.register_device("bat-1")
    start = next_quarter_hour().astimezone(ZoneInfo("Europe/Berlin"))
    body = schedule("bat-1", start=start, count=1)
    assert "+01:00" in body["intervals"][0]["start"] or "+02:00" in body["intervals"][0]["start"]  # type: ignore[index]
    response = await api.client.post("/api/v1/schedules", json=body, headers=api.admin)
    stored = (
        await api.client.get(f"/api/v1/schedules/{response.json()['accepted'][0]['schedule_id']}", headers=api.viewer)
    ).json()
    assert stored["intervals"][0]["start"] == next_quarter_hour().strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_every_violation_is_reported_with_a_pointer_and_nothing_stored(api: Api) -> None:
    await api.register_device("bat-1")
    body = schedule("bat-1", count=3)
    body["intervals"][0]["mode"] = 3  # type: ignore[index]
    body["intervals"][1]["rate_kw"] = 50  # type: ignore[index]
    body["intervals"][2]["start"] = "2030-01-01T00:00:00"  # type: ignore[index]
    response = await api.client.post("/api/v1/schedules", json=body, headers=api.admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/intervals/0/mode", "/intervals/1/rate_kw", "/intervals/2/start"} <= pointers
    assert all(e["detail"] for e in response.json()["errors"])
    history = (await api.client.get("/api/v1/devices/bat-1/schedules", headers=api.viewer)).json()
    assert history["items"] == []


async def test_unknown_and_decommissioned_devices_are_refused(api: Api) -> None:
    await api.register_device("bat-1")
    await api.client.post("/api/v1/devices/bat-1/decommission", headers=api.admin)
    for device_id in ("bat-1", "ghost"):
        response = await api.client.post("/api/v1/schedules", json=schedule(device_id), headers=api.admin)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/device_id"


async def test_soc_infeasible_schedule_names_the_first_bad_interval(api: Api) -> None:
    await api.register_device("bat-1", capacity_kwh=10, max_charge_kw=5)
    body = schedule("bat-1", count=4, minutes=60, rate_kw=5, alternate=False)  # 20 kWh into a 10 kWh battery
    response = await api.client.post("/api/v1/schedules", json=body, headers=api.admin)
    assert response.status_code == 422
    soc_errors = [e for e in response.json()["errors"] if e["code"] == "soc_infeasible"]
    assert len(soc_errors) == 1
    assert soc_errors[0]["pointer"].startswith("/intervals/")


async def test_batch_is_all_or_nothing_by_default(api: Api) -> None:
    for i in range(3):
        await api.register_device(f"bat-{i}")
    batch = [schedule("bat-0"), schedule("bat-1", rate_kw=99), schedule("bat-2")]
    response = await api.client.post("/api/v1/schedules", json=batch, headers=api.admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/1/intervals/0/rate_kw"
    for i in range(3):
        device = (await api.client.get(f"/api/v1/devices/bat-{i}", headers=api.viewer)).json()
        assert device["schedule_version"] == 0


async def test_partial_batch_stores_the_valid_ones_and_reports_the_rest(api: Api) -> None:
    for i in range(3):
        await api.register_device(f"bat-{i}")
    batch = [schedule("bat-0"), schedule("bat-1", rate_kw=99), schedule("bat-2"), schedule("bat-0")]
    response = await api.client.post("/api/v1/schedules?partial=true", json=batch, headers=api.admin)
    assert response.status_code == 201
    result = response.json()
    assert [a["device_id"] for a in result["accepted"]] == ["bat-0", "bat-2"]
    assert [(r["index"], r["device_id"]) for r in result["rejected"]] == [(1, "bat-1"), (3, "bat-0")]
    assert result["rejected"][1]["errors"][0]["code"] == "duplicate_device"


async def test_malformed_bodies_get_clear_4xx(api: Api) -> None:
    cases = [b"{not json", b"", b"42", b'"text"', b"[]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000]
    for body in cases:
        response = await api.client.post(
            "/api/v1/schedules", content=body, headers={**api.admin, "Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (body[:20], response.status_code)
        assert response.json()["detail"]


async def test_wrong_types_are_422_with_pointers(api: Api) -> None:
    await api.register_device("bat-1")
    body = {"device_id": "bat-1", "intervals": [{"start": 1, "end": None, "mode": "1", "rate_kw": "2"}]}
    response = await api.client.post("/api/v1/schedules", json=body, headers=api.admin)
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/intervals/0/start", "/intervals/0/end", "/intervals/0/mode", "/intervals/0/rate_kw"} <= pointers


async def test_oversized_body_is_413(api: Api) -> None:
    small = create_app(api.app.state.settings.model_copy(update={"max_body_bytes": 1000}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url="http://t") as client:
        response = await client.post(
            "/api/v1/schedules",
            content=b"[" + b" " * 5000 + b"]",
            headers={**api.admin, "Content-Type": "application/json"},
        )
    await small.state.engine.dispose()
    assert response.status_code == 413


async def test_batch_limit_is_enforced(api: Api) -> None:
    limit = api.app.state.settings.schedule_max_batch
    api.app.state.settings.schedule_max_batch = 2
    try:
        response = await api.client.post(
            "/api/v1/schedules", json=[schedule("a"), schedule("b"), schedule("c")], headers=api.admin
        )
    finally:
        api.app.state.settings.schedule_max_batch = limit
    assert response.status_code == 413


async def test_viewer_and_devices_cannot_submit(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    assert (await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.viewer)).status_code == 403
    assert (await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=credential)).status_code == 401
    assert (await api.client.post("/api/v1/schedules", json=schedule("bat-1"))).status_code == 401


async def test_device_view_with_etag_and_304(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    empty = await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
    assert empty.json()["intervals"] == []
    await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    first = await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
    assert first.status_code == 200
    assert len(first.json()["intervals"]) == 4
    etag = first.headers["etag"]
    assert etag != empty.headers["etag"]
    again = await api.client.get("/api/v1/devices/bat-1/schedule", headers={**credential, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    await api.client.post("/api/v1/schedules", json=schedule("bat-1", rate_kw=1), headers=api.admin)
    changed = await api.client.get("/api/v1/devices/bat-1/schedule", headers={**credential, "If-None-Match": etag})
    assert changed.status_code == 200
    assert {i["rate_kw"] for i in changed.json()["intervals"]} == {1.0}


async def test_new_version_supersedes_from_its_first_interval_and_keeps_history(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    start = next_quarter_hour()
    first = (
        await api.client.post("/api/v1/schedules", json=schedule("bat-1", start=start, count=4), headers=api.admin)
    ).json()["accepted"][0]
    takeover = start + timedelta(minutes=30)
    await api.client.post(
        "/api/v1/schedules", json=schedule("bat-1", start=takeover, count=2, rate_kw=1), headers=api.admin
    )
    view = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()
    assert view["version"] == 2
    assert [(i["rate_kw"]) for i in view["intervals"]] == [2.0, 2.0, 1.0, 1.0]
    old = (await api.client.get(f"/api/v1/schedules/{first['schedule_id']}", headers=api.viewer)).json()
    assert [i["status"] for i in old["intervals"]] == ["pending", "pending", "superseded", "superseded"]
    history = (await api.client.get("/api/v1/devices/bat-1/schedules", headers=api.viewer)).json()["items"]
    assert [(h["version"], h["interval_counts"]) for h in history] == [
        (2, {"pending": 2}),
        (1, {"pending": 2, "superseded": 2}),
    ]


async def test_straddling_interval_is_cut_where_the_new_version_starts(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    start = next_quarter_hour()
    await api.client.post(
        "/api/v1/schedules", json=schedule("bat-1", start=start, count=1, minutes=60), headers=api.admin
    )
    await api.client.post(
        "/api/v1/schedules",
        json=schedule("bat-1", start=start + timedelta(minutes=30), count=1, rate_kw=1),
        headers=api.admin,
    )
    view = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()["intervals"]
    assert len(view) == 2
    assert view[0]["end"] == view[1]["start"]


async def test_view_keeps_ended_intervals_until_acknowledged_or_a_day_old(api: Api) -> None:
    """A device back from an outage must learn of the intervals it never ran, to report them missed."""
    _, credential = await api.register_device("bat-1")
    start = next_quarter_hour()
    await api.client.post("/api/v1/schedules", json=schedule("bat-1", start=start, count=4), headers=api.admin)

    async def view_at(moment: datetime) -> list[int]:
        api.app.dependency_overrides[get_now] = lambda: moment
        response = await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
        return [interval["id"] for interval in response.json()["intervals"]]

    ids = await view_at(start + timedelta(minutes=35))
    assert len(ids) == 4  # two ended without an ack, one active, one upcoming
    acked = await api.client.post("/api/v1/devices/bat-1/acks", json={"acks": [ack(ids[0])]}, headers=credential)
    assert acked.json()["accepted"] == 1
    assert await view_at(start + timedelta(minutes=35)) == ids[1:]
    assert await view_at(start + timedelta(hours=24, minutes=50)) == ids[3:]
    assert await view_at(start + timedelta(hours=25, minutes=1)) == []


async def test_device_cannot_read_another_devices_schedule(api: Api) -> None:
    _, credential_a = await api.register_device("bat-a")
    await api.register_device("bat-b")
    assert (await api.client.get("/api/v1/devices/bat-b/schedule", headers=credential_a)).status_code == 403
    bad = {"Authorization": "Bearer gpd_forged"}
    assert (await api.client.get("/api/v1/devices/bat-a/schedule", headers=bad)).status_code == 401
    assert (await api.client.get("/api/v1/devices/bat-a/schedule")).status_code == 401


async def test_operators_can_read_a_devices_view(api: Api) -> None:
    await api.register_device("bat-1")
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=api.viewer)).status_code == 200


async def test_rejected_submission_leaves_the_stored_plan_untouched(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    before = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()
    bad = schedule("bat-1")
    bad["intervals"][0]["rate_kw"] = float("inf")  # type: ignore[index]
    response = await api.client.post(
        "/api/v1/schedules", content=json.dumps(bad), headers={**api.admin, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/intervals/0/rate_kw"
    after = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()
    assert after == before


async def test_a_later_schedule_is_checked_from_where_the_stored_plan_leaves_the_battery(api: Api) -> None:
    _, credential = await api.register_device("bat-1", capacity_kwh=10, max_charge_kw=5)  # SoC 10-90 %, 95 %
    reading = points(1, start=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))[0] | {"soc_pct": 50.0}
    sent = await api.client.post("/api/v1/devices/bat-1/telemetry", json={"points": [reading]}, headers=credential)
    assert sent.status_code == 200, sent.text
    first = next_quarter_hour()
    charge_to_88 = schedule("bat-1", start=first, count=1, minutes=60, rate_kw=4, alternate=False)  # +38 points
    assert (await api.client.post("/api/v1/schedules", json=charge_to_88, headers=api.admin)).status_code == 201

    later = first + timedelta(hours=3)
    more = schedule("bat-1", start=later, count=1, minutes=60, rate_kw=2, alternate=False)  # +19: 107 % from 88
    refused = await api.client.post("/api/v1/schedules", json=more, headers=api.admin)
    assert refused.status_code == 422
    assert [e["code"] for e in refused.json()["errors"]] == ["soc_infeasible"]
    assert "from 88.0% to 107.0%" in refused.json()["errors"][0]["detail"]

    less = schedule("bat-1", start=later, count=1, minutes=60, mode=2, rate_kw=2, alternate=False)
    assert (await api.client.post("/api/v1/schedules", json=less, headers=api.admin)).status_code == 201
    replacing = schedule("bat-1", start=first, count=2, minutes=60, rate_kw=4, alternate=False)  # from 50: 88, 126
    error = (await api.client.post("/api/v1/schedules", json=replacing, headers=api.admin)).json()["errors"][0]
    assert error["pointer"] == "/intervals/1" and "from 88.0% to 126.0%" in error["detail"]  # not from 88 at /0
