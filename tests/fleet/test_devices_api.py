"""Devices API: register, list with filters and cursors, get, update, decommission, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridpilot.dependencies import get_now
from tests.conftest import Api


async def test_register_returns_device_and_credential_once(api: Api) -> None:
    device, _ = await api.register_device("bat-1", tags=["north", "pilot"], timezone="Europe/Oslo")
    assert device["credential"].startswith("gpd_")
    assert device["status"] == "never-seen"
    assert device["tags"] == ["north", "pilot"]
    shown = (await api.client.get("/api/v1/devices/bat-1", headers=api.viewer)).json()
    assert "credential" not in shown
    assert shown["timezone"] == "Europe/Oslo"


async def test_register_twice_is_conflict(api: Api) -> None:
    await api.register_device("bat-1")
    response = await api.client.post(
        "/api/v1/devices",
        headers=api.admin,
        json={"id": "bat-1", "name": "x", "capacity_kwh": 1, "max_charge_kw": 1, "max_discharge_kw": 1},
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_register_rejects_each_bad_field_with_a_pointer(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/devices",
        headers=api.admin,
        json={
            "id": "bad/id",
            "name": "",
            "capacity_kwh": -1,
            "max_charge_kw": "fast",
            "max_discharge_kw": 1,
            "charge_efficiency": 1.5,
            "timezone": "Mars/Olympus",
            "unexpected": 1,
        },
    )
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {
        "/id",
        "/name",
        "/capacity_kwh",
        "/max_charge_kw",
        "/charge_efficiency",
        "/timezone",
        "/unexpected",
    } <= pointers


async def test_register_rejects_min_soc_above_max(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/devices",
        headers=api.admin,
        json={
            "id": "b",
            "name": "b",
            "capacity_kwh": 1,
            "max_charge_kw": 1,
            "max_discharge_kw": 1,
            "min_soc_pct": 80,
            "max_soc_pct": 20,
        },
    )
    assert response.status_code == 422
    assert "min_soc_pct" in response.text


async def test_viewer_cannot_register(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/devices",
        headers=api.viewer,
        json={"id": "b", "name": "b", "capacity_kwh": 1, "max_charge_kw": 1, "max_discharge_kw": 1},
    )
    assert response.status_code == 403


async def test_list_filters_and_cursor_pagination(api: Api) -> None:
    for i in range(5):
        await api.register_device(f"bat-{i}", site="north" if i % 2 else "south", tags=["odd"] if i % 2 else [])
    page = (await api.client.get("/api/v1/devices?limit=2", headers=api.viewer)).json()
    assert [d["id"] for d in page["items"]] == ["bat-0", "bat-1"]
    seen = [d["id"] for d in page["items"]]
    while page["next_cursor"]:
        page = (
            await api.client.get(f"/api/v1/devices?limit=2&cursor={page['next_cursor']}", headers=api.viewer)
        ).json()
        seen += [d["id"] for d in page["items"]]
    assert seen == [f"bat-{i}" for i in range(5)]
    north = (await api.client.get("/api/v1/devices?site=north", headers=api.viewer)).json()["items"]
    assert [d["id"] for d in north] == ["bat-1", "bat-3"]
    odd = (await api.client.get("/api/v1/devices?tag=odd", headers=api.viewer)).json()["items"]
    assert [d["id"] for d in odd] == ["bat-1", "bat-3"]


async def test_bad_cursor_and_bad_filter_are_400_and_422(api: Api) -> None:
    assert (await api.client.get("/api/v1/devices?cursor=%%%", headers=api.viewer)).status_code == 400
    response = await api.client.get("/api/v1/devices?status=sleepy", headers=api.viewer)
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "query:status"


async def test_status_follows_last_contact_and_timeout(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    await api.register_device("bat-2")
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).status_code == 200
    online = (await api.client.get("/api/v1/devices?status=online", headers=api.viewer)).json()["items"]
    assert [d["id"] for d in online] == ["bat-1"]
    assert online[0]["last_contact_at"] is not None
    never = (await api.client.get("/api/v1/devices?status=never-seen", headers=api.viewer)).json()["items"]
    assert [d["id"] for d in never] == ["bat-2"]
    later = datetime.now(UTC) + timedelta(seconds=api.app.state.settings.device_offline_after_s + 60)
    api.app.dependency_overrides[get_now] = lambda: later
    offline = (await api.client.get("/api/v1/devices?status=offline", headers=api.viewer)).json()["items"]
    assert [d["id"] for d in offline] == ["bat-1"]
    assert (await api.client.get("/api/v1/devices/bat-1", headers=api.viewer)).json()["status"] == "offline"


async def test_update_changes_fields_and_keeps_soc_bounds_consistent(api: Api) -> None:
    await api.register_device("bat-1")
    response = await api.client.patch(
        "/api/v1/devices/bat-1", headers=api.admin, json={"max_charge_kw": 7.5, "tags": ["b", "a"]}
    )
    assert response.status_code == 200
    assert response.json()["max_charge_kw"] == 7.5
    assert response.json()["tags"] == ["a", "b"]
    bad = await api.client.patch("/api/v1/devices/bat-1", headers=api.admin, json={"min_soc_pct": 95})
    assert bad.status_code == 422
    assert (await api.client.get("/api/v1/devices/bat-1", headers=api.viewer)).json()["min_soc_pct"] == 10
    nulled = await api.client.patch("/api/v1/devices/bat-1", headers=api.admin, json={"capacity_kwh": None})
    assert nulled.status_code == 422


async def test_decommission_revokes_credential_and_hides_from_default_list(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    response = await api.client.post("/api/v1/devices/bat-1/decommission", headers=api.admin)
    assert response.json()["status"] == "decommissioned"
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).status_code == 401
    assert (await api.client.get("/api/v1/devices", headers=api.viewer)).json()["items"] == []
    retired = (await api.client.get("/api/v1/devices?status=decommissioned", headers=api.viewer)).json()["items"]
    assert [d["id"] for d in retired] == ["bat-1"]
    assert (await api.client.patch("/api/v1/devices/bat-1", headers=api.admin, json={"name": "x"})).status_code == 409


async def test_rotate_credential_revokes_the_old_one(api: Api) -> None:
    _, old = await api.register_device("bat-1")
    response = await api.client.post("/api/v1/devices/bat-1/credentials", headers=api.admin)
    assert response.status_code == 201
    new = {"Authorization": f"Bearer {response.json()['credential']}"}
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=old)).status_code == 401
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=new)).status_code == 200


async def test_unknown_device_is_404_problem(api: Api) -> None:
    response = await api.client.get("/api/v1/devices/nope", headers=api.viewer)
    assert response.status_code == 404
    assert response.json()["title"] == "Device not found"
