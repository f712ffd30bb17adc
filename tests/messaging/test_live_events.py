"""Both device-message paths publish live events after their commit, for the messages that were stored only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gridpilot.config import Settings
from gridpilot.live.bus import LocalBus
from gridpilot.messaging.handlers import DeviceMessage
from gridpilot.messaging.queue import InProcessQueue
from gridpilot.protocol.mqtt import Channel, encode
from tests.conftest import Api
from tests.live.conftest import subscribed
from tests.messaging.rabbit import consuming, delete_topology, fleet, point, put_all, stored, until, with_rabbit


@pytest.fixture
async def rabbit_settings(settings: Settings) -> AsyncIterator[Settings]:
    """The per-engine settings plus a RabbitMQ prefix of this test's own, deleted at the end."""
    amqp = with_rabbit(settings)
    yield amqp
    await delete_topology(amqp)


def _mixed(devices_acks: list[tuple[str, Channel, bytes]]) -> list[tuple[str, Channel, bytes]]:
    """Good messages of two devices, a heartbeat-less status, and three that are refused."""
    future = {**point(0), "at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    return [
        *devices_acks,
        ("bat-1", Channel.TELEMETRY, encode("telemetry", [point(1), point(2)])),
        ("bat-1", Channel.STATUS, encode("status", {"state": "offline"})),
        ("ghost", Channel.ACKS, devices_acks[0][2]),  # no such device
        ("bat-0", Channel.TELEMETRY, b"{not json"),
        ("bat-0", Channel.TELEMETRY, encode("telemetry", [future])),  # refused: a point from the future
    ]


def _summary(events: list[dict[str, object]]) -> set[tuple[object, ...]]:
    return {(e["type"], e["device_id"]) for e in events}


async def test_the_in_process_queue_publishes_what_it_stored_once_per_batch(api: Api, settings: Settings) -> None:
    devices = await fleet(api, 2)
    messages = [DeviceMessage(*m) for m in _mixed(devices.acks("bat-0", 3))]
    bus = LocalBus()
    queue = InProcessQueue(settings, api.app.state.session_factory, bus)
    async with subscribed(bus) as subscription:
        await queue.put_many(messages)  # the future point fails its batch: stored one by one, published once
        await queue.put("ghost", Channel.STATUS, encode("status", {"state": "online"}))  # refused: no event
        await queue.put("bat-1", Channel.STATUS, encode("status", {"state": "online"}))
        events = await subscription.until(4)
    assert await stored(api.app.state.session_factory) == (3, 2)
    assert len(subscription.batches) == 2
    assert _summary(subscription.batches[0]) == {("acks", "bat-0"), ("telemetry", "bat-1"), ("status", "bat-1")}
    acks = next(e for e in events if e["type"] == "acks")
    assert len(acks["acks"]) == 3  # type: ignore[arg-type]
    assert subscription.batches[1] == [{"type": "status", "device_id": "bat-1", "state": "online"}]


async def test_the_in_process_queue_publishes_a_whole_batch_that_committed(api: Api, settings: Settings) -> None:
    devices = await fleet(api, 2)
    good = devices.acks("bat-0", 2) + devices.telemetry("bat-1", 3)
    messages = [DeviceMessage(*m) for m in good] + [DeviceMessage("ghost", Channel.ACKS, good[0][2])]
    bus = LocalBus()
    async with subscribed(bus) as subscription:
        await InProcessQueue(settings, api.app.state.session_factory, bus).put_many(messages)
        events = await subscription.until(2)
    assert len(subscription.batches) == 1
    assert _summary(events) == {("acks", "bat-0"), ("telemetry", "bat-1")}
    assert next(e for e in events if e["type"] == "telemetry")["count"] == 3


async def test_the_rabbitmq_consumer_publishes_only_the_messages_it_stored(api: Api, rabbit_settings: Settings) -> None:
    devices = await fleet(api, 2)
    messages = _mixed(devices.acks("bat-0", 5))
    await put_all(rabbit_settings, messages)
    bus = LocalBus()
    async with (
        subscribed(bus) as subscription,
        consuming(rabbit_settings, api.app.state.session_factory, bus) as consumer,
    ):
        await until("every message settled", lambda: _settled(consumer, stored=7, dead=3))
        events = await subscription.until(3)
    assert _summary(events) == {("acks", "bat-0"), ("telemetry", "bat-1"), ("status", "bat-1")}
    assert sum(len(e["acks"]) for e in events if e["type"] == "acks") == 5  # type: ignore[arg-type]
    assert sum(e["count"] for e in events if e["type"] == "telemetry") == 2  # type: ignore[misc]
    assert all(e["device_id"] != "ghost" for e in events)


async def _settled(consumer: object, *, stored: int, dead: int) -> bool:
    return (consumer.stored, consumer.dead) == (stored, dead)  # type: ignore[attr-defined]
