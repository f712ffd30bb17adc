"""Acknowledgements: idempotent by ack_id, per-device, moving interval status and SoC."""

from __future__ import annotations

from tests.conftest import Api
from tests.fleet.factories import ack, schedule


async def _device_with_schedule(api: Api, device_id: str = "bat-1") -> tuple[dict[str, str], list[int], int]:
    _, credential = await api.register_device(device_id)
    accepted = (await api.client.post("/api/v1/schedules", json=schedule(device_id), headers=api.admin)).json()
    schedule_id = accepted["accepted"][0]["schedule_id"]
    view = (await api.client.get(f"/api/v1/devices/{device_id}/schedule", headers=credential)).json()
    return credential, [i["id"] for i in view["intervals"]], schedule_id


async def test_acks_set_interval_status_and_replays_are_not_counted_twice(api: Api) -> None:
    credential, intervals, schedule_id = await _device_with_schedule(api)
    batch = {
        "acks": [ack(intervals[0], "executed", soc_pct=55.0), ack(intervals[1], "failed", message="inverter fault")]
    }
    first = await api.client.post("/api/v1/devices/bat-1/acks", json=batch, headers=credential)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    replay = await api.client.post("/api/v1/devices/bat-1/acks", json=batch, headers=credential)
    assert replay.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    stored = (await api.client.get(f"/api/v1/schedules/{schedule_id}", headers=api.viewer)).json()
    assert [i["status"] for i in stored["intervals"]] == ["executed", "failed", "pending", "pending"]
    history = (await api.client.get("/api/v1/devices/bat-1/acks", headers=api.viewer)).json()["items"]
    assert len(history) == 2
    device = (await api.client.get("/api/v1/devices/bat-1", headers=api.viewer)).json()
    assert device["last_soc_pct"] == 55.0


async def test_same_ack_twice_in_one_batch_counts_once(api: Api) -> None:
    credential, intervals, _ = await _device_with_schedule(api)
    record = ack(intervals[0])
    response = await api.client.post("/api/v1/devices/bat-1/acks", json={"acks": [record, record]}, headers=credential)
    assert response.json() == {"accepted": 1, "duplicates": 1, "rejected": []}


async def test_acks_for_another_devices_interval_are_rejected_per_record(api: Api) -> None:
    credential_a, intervals_a, _ = await _device_with_schedule(api, "bat-a")
    _, intervals_b, _ = await _device_with_schedule(api, "bat-b")
    response = await api.client.post(
        "/api/v1/devices/bat-a/acks",
        json={"acks": [ack(intervals_a[0]), ack(intervals_b[0]), ack(999_999)]},
        headers=credential_a,
    )
    result = response.json()
    assert result["accepted"] == 1
    assert [r["index"] for r in result["rejected"]] == [1, 2]


async def test_a_device_posts_only_its_own_acks(api: Api) -> None:
    credential_a, intervals_a, _ = await _device_with_schedule(api, "bat-a")
    await api.register_device("bat-b")
    body = {"acks": [ack(intervals_a[0])]}
    assert (await api.client.post("/api/v1/devices/bat-b/acks", json=body, headers=credential_a)).status_code == 403
    assert (await api.client.post("/api/v1/devices/bat-a/acks", json=body, headers=api.admin)).status_code == 403
    assert (await api.client.post("/api/v1/devices/bat-a/acks", json=body)).status_code == 401


async def test_malformed_acks_are_422_with_pointers(api: Api) -> None:
    credential, intervals, _ = await _device_with_schedule(api)
    body = {
        "acks": [
            {"ack_id": "not-a-uuid", "interval_id": intervals[0], "status": "done", "started_at": "2026-01-01T00:00:00"}
        ]
    }
    response = await api.client.post("/api/v1/devices/bat-1/acks", json=body, headers=credential)
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/acks/0/ack_id", "/acks/0/status"} <= pointers


async def test_ack_pagination(api: Api) -> None:
    credential, intervals, _ = await _device_with_schedule(api)
    await api.client.post("/api/v1/devices/bat-1/acks", json={"acks": [ack(i) for i in intervals]}, headers=credential)
    seen: list[str] = []
    url = "/api/v1/devices/bat-1/acks?limit=3"
    while url:
        page = (await api.client.get(url, headers=api.viewer)).json()
        seen += [a["ack_id"] for a in page["items"]]
        url = f"/api/v1/devices/bat-1/acks?limit=3&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert len(seen) == len(set(seen)) == 4
