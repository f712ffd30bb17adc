"""`gridpilot worker` as a real process publishes what it stored to the servers' Redis channel, or says it cannot."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gridpilot.config import Settings
from gridpilot.live.bus import open_bus
from gridpilot.protocol.mqtt import Channel
from tests.agent.processes import Process
from tests.conftest import Api
from tests.live.conftest import REDIS_URL, subscribed
from tests.messaging.rabbit import delete_topology, fleet, put_all, until, with_rabbit


@pytest.fixture
async def settings(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Settings]:
    """SQLite only (the worker process and the test share the file), RabbitMQ under a prefix of its own.

    No Redis here: the api fixture's app, which is never started or closed, uses these settings too.
    """
    shutil.copy(sqlite_template, tmp_path / "gridpilot.db")
    amqp = with_rabbit(Settings(environment="test", log_json=False, data_dir=tmp_path))  # type: ignore[call-arg]
    yield amqp
    await delete_topology(amqp)


def with_redis(settings: Settings) -> Settings:
    """The settings with Redis under a channel prefix of the test's own (pub/sub leaves nothing to clean up)."""
    return settings.model_copy(
        update={"redis_url": REDIS_URL, "redis_prefix": f"gridpilot-test-{uuid.uuid4().hex[:10]}"}
    )


def worker(settings: Settings, tmp_path: Path) -> Process:
    """`gridpilot worker --no-mqtt` on the test's database and queue, with Redis if the settings have it."""
    env = {
        "GRIDPILOT_DATA_DIR": str(settings.data_dir),
        "GRIDPILOT_AMQP_URL": settings.amqp_url or "",
        "GRIDPILOT_AMQP_PREFIX": settings.amqp_prefix,
        "GRIDPILOT_REDIS_URL": settings.redis_url or "",
        "GRIDPILOT_REDIS_PREFIX": settings.redis_prefix,
        "GRIDPILOT_LOG_JSON": "false",
    }
    return Process("worker", ["worker", "--no-mqtt"], tmp_path / "worker.log", env)


async def test_a_worker_with_redis_publishes_the_messages_it_stored(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    devices = await fleet(api, 2)
    messages = devices.acks("bat-0", 4) + devices.telemetry("bat-1", 3)
    await put_all(settings, [*messages, ("ghost", Channel.ACKS, messages[0][2])])
    live = with_redis(settings)
    bus = open_bus(live)
    process = worker(live, tmp_path)
    try:
        async with subscribed(bus, f"{live.redis_prefix}:live") as subscription:
            process.start()
            await until("the acks and the telemetry", lambda: _seen(subscription.events, acks=4, points=3), 30)
        assert process.stop() == 0
    finally:
        process.kill()
        await bus.close()
    assert {e["device_id"] for e in subscription.events} == {"bat-0", "bat-1"}  # not the refused "ghost"
    assert "publishing live events to Redis" in process.log()


async def test_a_worker_without_redis_says_at_start_up_that_dashboards_will_not_see_its_work(
    settings: Settings, tmp_path: Path
) -> None:
    process = worker(settings, tmp_path)
    try:
        process.start()
        await until("the worker consuming", lambda: _logged(process, "consuming device messages"), 30)
        assert process.stop() == 0
    finally:
        process.kill()
    assert process.log().count("GRIDPILOT_REDIS_URL is not set") == 1


async def _seen(events: list[dict[str, object]], *, acks: int, points: int) -> bool:
    got_acks = sum(len(e["acks"]) for e in events if e["type"] == "acks")  # type: ignore[arg-type]
    got_points = sum(e["count"] for e in events if e["type"] == "telemetry")  # type: ignore[misc]
    return (got_acks, got_points) == (acks, points)


async def _logged(process: Process, text: str) -> bool:
    return text in process.log()
