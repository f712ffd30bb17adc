"""The live bus: in-process fan-out, and Redis pub/sub (the real Redis) that survives a dropped connection."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis

from gridpilot.config import Settings
from gridpilot.live.bus import LocalBus, RedisBus, open_bus
from gridpilot.live.events import status_event
from tests.live.conftest import REDIS_URL, eventually, subscribed, until_subscribed


async def test_the_local_bus_hands_every_batch_to_every_subscriber() -> None:
    bus = LocalBus()
    async with subscribed(bus) as first, subscribed(bus) as second:
        await bus.publish([status_event("bat-1", "online")])
        await bus.publish([])  # nothing to say: nothing sent
        await bus.publish([status_event("bat-2", "offline"), status_event("bat-3", "online")])
        for subscription in (first, second):
            assert [e["device_id"] for e in await subscription.until(3)] == ["bat-1", "bat-2", "bat-3"]
            assert len(subscription.batches) == 2


async def test_a_local_subscriber_that_falls_behind_loses_the_oldest_batches() -> None:
    bus = LocalBus()
    reader = bus.subscribe()
    pending = asyncio.ensure_future(anext(reader))
    await asyncio.sleep(0)  # subscribed, not reading
    for n in range(1005):
        await bus.publish([status_event(f"bat-{n}", "online")])
    received = [await pending] + [await anext(reader) for _ in range(999)]  # its backlog holds 1000
    await reader.aclose()
    assert [batch[0]["device_id"] for batch in received] == [f"bat-{n}" for n in range(5, 1005)]


async def test_open_bus_chooses_redis_only_when_configured(redis_settings: Settings) -> None:
    assert isinstance(open_bus(redis_settings.model_copy(update={"redis_url": None})), LocalBus)
    bus = open_bus(redis_settings)
    assert isinstance(bus, RedisBus)
    await bus.close()


async def test_redis_carries_batches_from_one_bus_to_the_subscribers_of_another(redis_settings: Settings) -> None:
    publisher, reader = open_bus(redis_settings), open_bus(redis_settings)
    channel = f"{redis_settings.redis_prefix}:live"
    try:
        async with subscribed(reader, channel) as subscription:
            await publisher.publish([status_event("bat-1", "online")])
            await publisher.publish([status_event("bat-2", "online"), status_event("bat-3", "offline")])
            events = await subscription.until(3)
        assert [(e["device_id"], e["state"]) for e in events] == [
            ("bat-1", "online"),
            ("bat-2", "online"),
            ("bat-3", "offline"),
        ]
    finally:
        await publisher.close()
        await reader.close()


async def test_the_redis_subscription_comes_back_after_its_connection_is_killed(redis_settings: Settings) -> None:
    name = f"gp-live-test-{uuid.uuid4().hex[:10]}"
    reader = RedisBus(f"{REDIS_URL}?client_name={name}", f"{redis_settings.redis_prefix}:live")
    publisher = open_bus(redis_settings)
    channel = f"{redis_settings.redis_prefix}:live"
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        async with subscribed(reader, channel) as subscription:
            await publisher.publish([status_event("before", "online")])
            await subscription.until(1)
            killed = 0
            for client in await admin.client_list(_type="pubsub"):
                if client["name"] == name:
                    killed += await admin.client_kill_filter(_id=client["id"])
            assert killed == 1
            await until_subscribed(channel, 1)  # subscribed again, on a new connection
            await publisher.publish([status_event("after", "online")])
            events = await subscription.until(2)
        assert [e["device_id"] for e in events] == ["before", "after"]
    finally:
        await admin.aclose()
        await publisher.close()
        await reader.close()


async def test_publishing_with_redis_away_returns_and_drops_the_batch() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", "nobody:live")  # nothing listens on port 1
    try:
        await bus.publish([status_event("bat-1", "online")])
        await eventually(lambda: bus.dropped == 1)
        await bus.publish([status_event("bat-2", "online")])  # still returns; still nothing raised
    finally:
        await bus.close()
    assert bus.dropped == 2
