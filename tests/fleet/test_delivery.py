"""The delivery state of schedule versions: derived rules, and what the history shows as the device reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridpilot.dependencies import get_now
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet.delivery import delivery_state
from gridpilot.fleet.schemas import DeliveryState
from tests.conftest import Api
from tests.fleet.factories import ack, next_quarter_hour, schedule

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
EARLIER = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("sent", "delivered", "counts", "last_end", "expected"),
    [
        (None, None, {"pending": 4}, LATER, DeliveryState.QUEUED),
        (NOW, None, {"pending": 4}, LATER, DeliveryState.SENT),
        (NOW, NOW, {"pending": 3, "executed": 1}, LATER, DeliveryState.DELIVERED),
        (NOW, NOW, {"executed": 4}, EARLIER, DeliveryState.EXECUTED),
        (None, NOW, {"executed": 3, "missed": 1}, EARLIER, DeliveryState.FAILED),
        (NOW, None, {"pending": 4}, EARLIER, DeliveryState.EXPIRED),
        (None, None, {"superseded": 4}, EARLIER, DeliveryState.EXPIRED),
        (None, NOW, {"superseded": 4}, EARLIER, DeliveryState.DELIVERED),
    ],
)
def test_delivery_state_rules(
    sent: datetime | None, delivered: datetime | None, counts: dict[str, int], last_end: datetime, expected: str
) -> None:
    assert (
        delivery_state(sent_at=sent, delivered_at=delivered, interval_counts=counts, last_end=last_end, now=NOW)
        == expected
    )


async def _delivery(api: Api, device_id: str = "bat-1") -> list[dict[str, object]]:
    response = await api.client.get(f"/api/v1/devices/{device_id}/schedules", headers=api.admin)
    assert response.status_code == 200, response.text
    return [item["delivery"] for item in response.json()["items"]]


def _heartbeat(version: int) -> dict[str, object]:
    return {
        "at": datetime.now(UTC).isoformat(),
        "agent_version": "test",
        "schedule_version": version,
        "driver_state": "ok",
        "outbox_depth": 0,
        "outbox_acks": 0,
        "outbox_telemetry": 0,
    }


async def test_a_version_goes_from_queued_to_delivered_to_executed(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    start = next_quarter_hour()
    await api.client.post("/api/v1/schedules", json=schedule("bat-1", start=start, count=2), headers=api.admin)
    [delivery] = await _delivery(api)
    assert delivery["state"] == "queued" and delivery["sent_at"] is None

    response = await api.client.post("/api/v1/devices/bat-1/heartbeat", json=_heartbeat(1), headers=credential)
    assert response.status_code == 204
    [delivery] = await _delivery(api)
    assert delivery["state"] == "delivered" and delivery["delivered_at"] and delivery["sent_at"]

    view = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()
    acks = {"acks": [ack(interval["id"]) for interval in view["intervals"]]}
    await api.client.post("/api/v1/devices/bat-1/acks", json=acks, headers=credential)
    assert [d["state"] for d in await _delivery(api)] == ["executed"]


async def test_a_newer_version_in_force_delivers_the_older_ones_and_an_undelivered_one_expires(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    start = next_quarter_hour()
    for offset in (0, 1):
        body = schedule("bat-1", start=start + timedelta(hours=offset), count=1)
        await api.client.post("/api/v1/schedules", json=body, headers=api.admin)
    await api.client.post("/api/v1/devices/bat-1/heartbeat", json=_heartbeat(2), headers=credential)
    assert [d["state"] for d in await _delivery(api)] == ["delivered", "delivered"]

    await api.register_device("bat-2")
    await api.client.post("/api/v1/schedules", json=schedule("bat-2", start=start, count=1), headers=api.admin)
    api.app.dependency_overrides[get_now] = lambda: start + timedelta(hours=2)
    assert [d["state"] for d in await _delivery(api, "bat-2")] == ["expired"]


async def test_pushed_views_are_marked_sent(api: Api) -> None:
    await api.register_device("bat-1")
    await api.register_device("bat-2")
    for device_id in ("bat-1", "bat-2"):
        await api.client.post("/api/v1/schedules", json=schedule(device_id, count=1), headers=api.admin)
    async with api.app.state.session_factory() as session:
        await schedule_service.mark_sent(session=session, sent=[("bat-1", 1), ("bat-2", 1)], now=datetime.now(UTC))
        await session.commit()
    for device_id in ("bat-1", "bat-2"):
        [delivery] = await _delivery(api, device_id)
        assert delivery["state"] == "sent" and delivery["sent_at"] and delivery["delivered_at"] is None
