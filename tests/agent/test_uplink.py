"""The outbox drains into the real server app: in order, in batches, live data alongside the backlog, refusals kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gridpilot.agent._store import Store
from gridpilot.agent._transport import CloudClient, TransportError
from gridpilot.agent._uplink import Uplink
from tests.agent.processes import free_port
from tests.conftest import Api
from tests.fleet.factories import schedule


def point(at: datetime, soc: float = 50.0) -> dict[str, object]:
    return {"at": at.isoformat(), "soc_pct": soc, "power_kw": 1.0, "state": "charging"}


def ack_for(interval_id: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "ack_id": str(uuid.uuid4()),
        "interval_id": interval_id,
        "status": "executed",
        "started_at": now.isoformat(),
        "ended_at": now.isoformat(),
        "energy_kwh": 0.5,
    }


class Device:
    def __init__(self, api: Api, store: Store, client: CloudClient, credential: dict[str, str]) -> None:
        self.api, self.store, self.client, self.credential = api, store, client, credential

    async def telemetry_count(self) -> int:
        response = await self.api.client.get(
            "/api/v1/devices/bat-1/telemetry", params={"limit": 10000}, headers=self.api.admin
        )
        return len(response.json()["items"])


@pytest.fixture
async def device(api: Api, tmp_path: Path) -> AsyncIterator[Device]:
    registered, credential = await api.register_device("bat-1")
    client = CloudClient(
        server_url="http://test",
        device_id="bat-1",
        credential=str(registered["credential"]),
        timeout_s=10,
        transport=httpx.ASGITransport(app=api.app),
    )
    store = Store(tmp_path / "agent.db")
    yield Device(api, store, client, credential)
    await client.aclose()
    store.close()


async def interval_ids(device: Device, count: int) -> list[int]:
    await device.api.client.post("/api/v1/schedules", json=schedule("bat-1", count=count), headers=device.api.admin)
    view = await device.client.fetch_schedule(None)
    assert view.body is not None
    return [interval["id"] for interval in view.body["intervals"]]


async def test_a_backlog_drains_in_order_in_batches_and_each_record_counts_once(device: Device) -> None:
    now = datetime.now(UTC)
    ids = await interval_ids(device, 3)
    for interval_id in ids:
        device.store.enqueue("ack", ack_for(interval_id), now)
    for n in range(1200):
        device.store.enqueue("telemetry", point(now - timedelta(seconds=1200 - n)), now)
    uplink = Uplink(store=device.store, client=device.client, batch=500)
    rounds = 0
    while await uplink.drain_round(now):
        rounds += 1
    assert rounds == 3  # 500 + 50 live, then 500 + 50, then the rest
    assert device.store.outbox_stats().depth == 0
    assert await device.telemetry_count() == 1200
    acks = (await device.api.client.get("/api/v1/devices/bat-1/acks", headers=device.api.admin)).json()["items"]
    assert len(acks) == 3


async def test_a_batch_resent_after_a_lost_answer_is_not_stored_twice(device: Device) -> None:
    now = datetime.now(UTC)
    [interval_id] = await interval_ids(device, 1)
    acks = [ack_for(interval_id)]
    first = await device.client.post_acks(acks)
    again = await device.client.post_acks(acks)  # the answer to the first was lost; the outbox sends it again
    assert (first["accepted"], again["accepted"], again["duplicates"]) == (1, 0, 1)
    points = [point(now - timedelta(seconds=s)) for s in range(10)]
    await device.client.post_telemetry(points)
    await device.client.post_telemetry(points)
    assert await device.telemetry_count() == 10


async def test_live_points_go_out_with_the_first_round_of_a_long_backlog(device: Device) -> None:
    now = datetime.now(UTC)
    for n in range(5000):
        device.store.enqueue("telemetry", point(now - timedelta(hours=10) + timedelta(seconds=n)), now)
    device.store.enqueue("telemetry", point(now, soc=77.0), now)  # made after the link came back
    await Uplink(store=device.store, client=device.client, batch=500).drain_round(now)
    response = await device.api.client.get(
        "/api/v1/devices/bat-1/telemetry",
        params={"since": (now - timedelta(minutes=1)).isoformat()},
        headers=device.api.admin,
    )
    assert [p["soc_pct"] for p in response.json()["items"]] == [77.0]
    assert device.store.outbox_stats().telemetry == 5001 - 550


async def test_a_record_the_server_refuses_for_good_is_kept_aside_and_the_rest_go_through(device: Device) -> None:
    now = datetime.now(UTC)
    [own] = await interval_ids(device, 1)
    device.store.enqueue("ack", ack_for(own), now)
    device.store.enqueue("ack", ack_for(own + 10_000), now)  # not an interval of this device
    device.store.enqueue("telemetry", point(now + timedelta(days=1)), now)  # a clock gone wrong: refused
    device.store.enqueue("telemetry", point(now), now)
    uplink = Uplink(store=device.store, client=device.client, batch=500)
    while await uplink.drain_round(now):
        pass
    stats = device.store.outbox_stats()
    assert (stats.depth, stats.dead_letters) == (0, 2)
    assert await device.telemetry_count() == 1


async def test_an_unreachable_server_keeps_every_record(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.enqueue("telemetry", point(datetime.now(UTC)), datetime.now(UTC))
    client = CloudClient(server_url=f"http://127.0.0.1:{free_port()}", device_id="bat-1", credential="x", timeout_s=1)
    with pytest.raises(TransportError):
        await Uplink(store=store, client=client, batch=10).drain_round(datetime.now(UTC))
    await client.aclose()
    assert store.outbox_stats().telemetry == 1
