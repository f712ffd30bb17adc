"""Every write lands in the audit log with who, what and when, and no secret."""

from __future__ import annotations

from tests.conftest import Api
from tests.fleet.factories import schedule


async def test_writes_are_audited_without_secrets(api: Api) -> None:
    device, _ = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    await api.client.patch("/api/v1/devices/bat-1", headers=api.admin, json={"name": "renamed"})
    await api.client.post("/api/v1/devices/bat-1/credentials", headers=api.admin)
    response = await api.client.get("/api/v1/audit?target_id=bat-1", headers={**api.admin, "X-Request-ID": "r-1"})
    entries = response.json()["items"]
    assert [e["action"] for e in entries] == [
        "device.rotate_credential",
        "device.update",
        "schedules.submit",
        "device.register",
    ]
    assert {e["actor"] for e in entries} == {"operator:root"}
    assert device["credential"] not in response.text
    assert "gpd_" not in response.text


async def test_request_id_is_recorded_and_returned(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/devices",
        headers={**api.admin, "X-Request-ID": "4c1b1e0e9c6a4c55b0e0f5b6f0f0a001"},
        json={"id": "b", "name": "b", "capacity_kwh": 1, "max_charge_kw": 1, "max_discharge_kw": 1},
    )
    assert response.headers["x-request-id"] == "4c1b1e0e9c6a4c55b0e0f5b6f0f0a001"
    entries = (await api.client.get("/api/v1/audit", headers=api.admin)).json()["items"]
    assert entries[0]["request_id"] == "4c1b1e0e9c6a4c55b0e0f5b6f0f0a001"


async def test_viewers_cannot_read_the_audit_log(api: Api) -> None:
    assert (await api.client.get("/api/v1/audit", headers=api.viewer)).status_code == 403
