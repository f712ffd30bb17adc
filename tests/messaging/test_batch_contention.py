"""Batches that meet other transactions on PostgreSQL: a deadlock is tried again whole, never split up or lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from gridpilot.config import Settings
from gridpilot.messaging.handlers import DeviceMessage, parse_batch, store_device_batch
from gridpilot.protocol.mqtt import Channel, encode
from tests.conftest import Api
from tests.fleet.factories import ack, schedule
from tests.messaging.rabbit import until

pytestmark = pytest.mark.postgres

_WAITING_FOR_ME = "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path) -> Settings:
    """PostgreSQL only: SQLite has no row locks to deadlock on."""
    return Settings(environment="test", log_json=False, database_url=postgres_url, data_dir=tmp_path)


async def test_a_batch_that_deadlocks_with_another_transaction_is_tried_again_whole(
    api: Api, settings: Settings
) -> None:
    _, credential = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1", count=1), headers=api.admin)
    [interval] = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()["intervals"]
    message = DeviceMessage("bat-1", Channel.ACKS, encode("acks", [ack(interval["id"], soc_pct=55.0)]))
    other = await asyncpg.connect((settings.database_url or "").replace("+asyncpg", ""))
    try:
        async with other.transaction():
            await other.execute("SET LOCAL deadlock_timeout = '10s'")  # the batch, waiting first, finds the cycle
            await other.execute("SELECT 1 FROM devices WHERE id = 'bat-1' FOR NO KEY UPDATE")
            storing = asyncio.create_task(
                store_device_batch(
                    session_factory=api.app.state.session_factory,
                    batch=parse_batch([message]),
                    now=lambda: datetime.now(UTC),
                    contact_every=timedelta(hours=1),
                )
            )
            await until("the batch waiting for the device", lambda: _lock_waits(other), timeout_s=10)
            # the batch holds the interval and waits for the device; taking the interval closes the cycle
            await other.execute("SELECT 1 FROM schedule_intervals WHERE id = $1 FOR NO KEY UPDATE", interval["id"])
        reasons = await asyncio.wait_for(storing, 20)
    finally:
        await other.close()
    assert reasons == [None]  # stored on the second attempt; without it the deadlock would have been raised
    [stored] = (await api.client.get("/api/v1/devices/bat-1/acks", headers=api.admin)).json()["items"]
    assert stored["interval_id"] == interval["id"]
    assert (await api.client.get("/api/v1/devices/bat-1", headers=api.admin)).json()["last_soc_pct"] == 55.0


async def _lock_waits(connection: asyncpg.Connection) -> bool:
    return int(await connection.fetchval(_WAITING_FOR_ME)) > 0
