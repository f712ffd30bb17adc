"""The HTTP routes that store directly (no queue configured) publish live events after their commit."""

from __future__ import annotations

from datetime import UTC, datetime

from gridpilot.live.bus import LiveBus
from tests.conftest import Api
from tests.fleet.factories import ack, schedule
from tests.live.conftest import subscribed
from tests.messaging.rabbit import point


async def test_acks_telemetry_heartbeats_and_schedules_posted_over_http_are_published(api: Api) -> None:
    bus: LiveBus = api.app.state.live_bus
    _, bat1 = await api.register_device("bat-1")
    _, bat2 = await api.register_device("bat-2")
    async with subscribed(bus) as subscription:
        response = await api.client.post(
            "/api/v1/schedules", json=[schedule("bat-1"), schedule("bat-2")], headers=api.admin
        )
        assert response.status_code == 201, response.text
        await subscription.until(2)
        own = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=bat1)).json()["intervals"][0]["id"]
        foreign = (await api.client.get("/api/v1/devices/bat-2/schedule", headers=bat2)).json()["intervals"][0]["id"]

        response = await api.client.post(
            "/api/v1/devices/bat-1/acks", json={"acks": [ack(own), ack(foreign)]}, headers=bat1
        )
        assert response.json()["accepted"] == 1
        response = await api.client.post(
            "/api/v1/devices/bat-1/telemetry", json={"points": [point(1), point(2)]}, headers=bat1
        )
        assert response.status_code == 200, response.text
        beat = {
            "at": datetime.now(UTC).isoformat(),
            "agent_version": "0.3.1",
            "schedule_version": 1,
            "driver_state": "ok",
            "outbox_depth": 0,
            "outbox_acks": 0,
            "outbox_telemetry": 0,
        }
        response = await api.client.post("/api/v1/devices/bat-2/heartbeat", json=beat, headers=bat2)
        assert response.status_code == 204, response.text
        events = await subscription.until(5)

    assert events[:2] == [
        {"type": "schedule", "device_id": "bat-1", "version": 1, "state": "queued"},
        {"type": "schedule", "device_id": "bat-2", "version": 1, "state": "queued"},
    ]
    acks, telemetry, status = events[2:]
    assert acks["type"] == "acks" and [a["interval_id"] for a in acks["acks"]] == [own]  # the refused one left out
    assert telemetry["type"] == "telemetry" and telemetry["count"] == 2 and _at(telemetry["point"]) == _at(point(2))
    assert status == {
        "type": "status",
        "device_id": "bat-2",
        "state": "online",
        "schedule_version": 1,
        "driver_state": "ok",
        "outbox_depth": 0,
    }


async def test_a_refused_request_publishes_nothing(api: Api) -> None:
    bus: LiveBus = api.app.state.live_bus
    _, bat1 = await api.register_device("bat-1")
    async with subscribed(bus) as subscription:
        future = {**point(0), "at": "2999-01-01T00:00:00+00:00"}
        response = await api.client.post("/api/v1/devices/bat-1/telemetry", json={"points": [future]}, headers=bat1)
        assert response.status_code == 422, response.text
        response = await api.client.post("/api/v1/schedules", json={"device_id": "bat-1"}, headers=api.admin)
        assert response.status_code == 422, response.text
        response = await api.client.post("/api/v1/devices/bat-1/telemetry", json={"points": [point(3)]}, headers=bat1)
        assert response.status_code == 200, response.text
        events = await subscription.until(1)
    assert [e["type"] for e in events] == ["telemetry"]  # the first event is the one that was stored


def _at(point: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(point["at"]))
