"""Device messages through the real RabbitMQ: batches in one transaction, poison to the DLQ, replay, HTTP 202."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiomqtt
import pytest
from typer.testing import CliRunner, Result

from gridpilot.cli import full_app
from gridpilot.config import Settings
from gridpilot.messaging import bundle, dlq, rabbit
from gridpilot.messaging.batches import BatchConsumer
from gridpilot.messaging.handlers import DeviceMessage
from gridpilot.messaging.mqtt import MqttConsumer
from gridpilot.protocol.mqtt import Channel, encode
from gridpilot.telemetry import service as telemetry_service
from tests.agent import processes
from tests.conftest import Api
from tests.fleet.factories import ack
from tests.messaging.rabbit import consuming, delete_topology, depths, fleet, point, put_all, stored, until, with_rabbit


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """The usual per-engine settings plus a RabbitMQ prefix of this test's own, deleted at the end."""
    amqp = with_rabbit(settings)
    yield amqp
    await delete_topology(amqp)


async def test_a_batch_from_several_devices_is_stored_once_in_few_transactions(api: Api, settings: Settings) -> None:
    devices = await fleet(api, 3)
    messages: list[tuple[str, Channel, bytes]] = []
    for device_id in devices.intervals:
        messages += devices.acks(device_id, 20) + devices.telemetry(device_id, 30, per_message=2)
    await put_all(settings, messages + messages[:40])  # the first 40 again: redeliveries change nothing
    async with consuming(settings, api.app.state.session_factory) as consumer:
        await until("every message processed", lambda: _done(consumer, len(messages) + 40))
    assert await stored(api.app.state.session_factory) == (60, 180)
    assert consumer.dead == 0
    assert consumer.batches <= 3  # 190 messages, batches of up to 500: not one transaction per message
    assert await depths(settings) == (0, 0)


@pytest.mark.parametrize("bundled", [False, True], ids=["one-per-message", "one-bundle"])
async def test_poison_goes_to_the_dlq_with_its_reason_and_the_rest_of_its_batch_is_stored(
    api: Api, settings: Settings, bundled: bool
) -> None:
    devices = await fleet(api, 2)
    future = datetime.now(UTC) + timedelta(hours=1)
    poison = [
        ("bat-0", Channel.ACKS, b"{not json"),
        ("bat-0", Channel.ACKS, json.dumps({"v": 2, "type": "acks", "data": []}).encode()),
        ("ghost", Channel.ACKS, encode("acks", [ack(devices.intervals["bat-0"][0])])),
        ("ghost", Channel.TELEMETRY, encode("telemetry", [point(0)])),
        ("bat-1", Channel.TELEMETRY, encode("telemetry", [{**point(0), "at": future.isoformat()}])),
    ]
    good = devices.acks("bat-0", 5) + devices.telemetry("bat-1", 5, per_message=3)
    await put_all(settings, [*good[:4], *poison, *good[4:]], concurrency=1, bundled=bundled)
    async with consuming(settings, api.app.state.session_factory) as consumer:
        await until("the batch settled", lambda: _done(consumer, len(good) + len(poison)))
        assert await stored(api.app.state.session_factory) == (5, 15)
        await until("the DLQ counted", lambda: _dlq_is(settings, 5))

        rows = await dlq.peek(settings, limit=50)
        assert [(r.device_id, r.channel) for r in rows] == [(d, c.value) for d, c, _ in poison]
        reasons = [r.reason for r in rows]
        assert "not JSON" in reasons[0]
        assert "unsupported envelope version 2" in reasons[1]
        assert "DeviceNotFound" in reasons[2] and "DeviceNotFound" in reasons[3]
        assert "in the future" in reasons[4]
        assert [r.device_id for r in await dlq.peek(settings, limit=50)] == [r.device_id for r in rows]  # unchanged
        listing = await _cli(settings, "dlq", "list")
        assert listing.exit_code == 0, listing.output
        assert "ghost" in listing.output and "DeviceNotFound" in listing.output and "5 dead letter(s)" in listing.output

        await api.register_device("ghost")  # the fix
        replayed = await _cli(settings, "dlq", "replay", "--all")
        assert replayed.exit_code == 0 and "replayed 5 message(s)" in replayed.output
        await until("the replay processed", lambda: _done(consumer, len(good) + 2 * len(poison)))
        await until("the DLQ holding only the incurable", lambda: _dlq_is(settings, 3))
    assert await stored(api.app.state.session_factory) == (
        5,
        16,
    )  # ghost's point; its ack, naming bat-0's interval, is refused as over HTTP
    assert sorted(r.device_id for r in await dlq.peek(settings, limit=50)) == ["bat-0", "bat-0", "bat-1"]


async def test_a_bundle_whose_framing_is_broken_goes_to_the_dlq_whole(api: Api, settings: Settings) -> None:
    devices = await fleet(api, 1)
    await put_all(settings, devices.acks("bat-0", 2))
    broken = bundle.pack([DeviceMessage(*m) for m in devices.acks("bat-0", 2)])[:-5]
    queue = await rabbit.RabbitQueue.open(settings)
    try:
        await queue._channel.default_exchange.publish(
            aio_pika.Message(broken, content_type=bundle.CONTENT_TYPE, headers={"bundle": 2}),
            routing_key=queue.names.main,
        )
    finally:
        await queue.close()
    async with consuming(settings, api.app.state.session_factory) as consumer:
        await until("the bundle settled", lambda: _dlq_is(settings, 1))
    assert consumer.stored == 2
    [dead] = await dlq.peek(settings, limit=10)
    assert "bundle is malformed" in dead.reason and dead.size == len(broken)


async def test_the_http_routes_answer_202_and_a_worker_stores_the_records(api: Api, settings: Settings) -> None:
    devices = await fleet(api, 1)
    _, credential = await api.register_device("bat-http")
    api.app.state.device_queue = await rabbit.RabbitQueue.open(settings)
    try:
        body = {"acks": [ack(devices.intervals["bat-0"][0])]}
        refused = await api.client.post("/api/v1/devices/bat-http/acks", json={"acks": [{}]}, headers=credential)
        assert refused.status_code == 422
        points = {"points": [point(1), point(2)]}
        response = await api.client.post("/api/v1/devices/bat-http/telemetry", json=points, headers=credential)
        assert (response.status_code, response.json()) == (202, {"queued": 2})
        response = await api.client.post("/api/v1/devices/bat-http/acks", json=body, headers=credential)
        assert (response.status_code, response.json()) == (202, {"queued": 1})
    finally:
        await api.app.state.device_queue.close()
        api.app.state.device_queue = None
    assert await stored(api.app.state.session_factory) == (0, 0)
    async with consuming(settings, api.app.state.session_factory) as consumer:
        await until("both messages processed", lambda: _done(consumer, 2))
    page = (await api.client.get("/api/v1/devices/bat-http/telemetry", headers=credential)).json()
    assert len(page["items"]) == 2
    assert await stored(api.app.state.session_factory) == (0, 2)  # the ack named another device's interval


async def test_two_workers_share_the_queue(api: Api, settings: Settings) -> None:
    await fleet(api, 4)
    shared = settings.model_copy(update={"worker_batch_size": 50})
    await put_all(shared, [m for n in range(4) for m in _telemetry(f"bat-{n}", 250)])
    factory = api.app.state.session_factory
    async with consuming(shared, factory) as first, consuming(shared, factory) as second:
        await until("all processed", lambda: _done_by((first, second), 1000))
    assert first.stored > 0 and second.stored > 0
    assert await stored(factory) == (0, 1000)


async def test_batches_are_written_in_order_while_the_next_is_collected_and_all_acked(
    api: Api, settings: Settings
) -> None:
    devices = await fleet(api, 2)
    small = settings.model_copy(update={"worker_batch_size": 10})
    messages = [m for d in devices.intervals for m in devices.acks(d, 40) + devices.telemetry(d, 40)]
    await put_all(small, messages)
    factory = api.app.state.session_factory
    async with consuming(small, factory) as consumer:
        await until("all processed", lambda: _done(consumer, len(messages)))
    assert consumer.batches >= len(messages) // 10
    assert await stored(factory) == (80, 80)
    assert await depths(small) == (0, 0)


async def test_a_batch_failing_after_its_commit_stops_the_consumer_at_once(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    devices = await fleet(api, 1)
    await put_all(settings, devices.acks("bat-0", 3))
    consumer = BatchConsumer(settings, api.app.state.session_factory)

    async def channel_gone(*_: object) -> None:
        raise RuntimeError("the channel went away")

    monkeypatch.setattr(consumer, "_settle", channel_gone)
    with pytest.raises(RuntimeError, match="went away"):  # not a consumer waiting forever for its next delivery
        await asyncio.wait_for(consumer.run(), 20)


def _telemetry(device_id: str, count: int) -> list[tuple[str, Channel, bytes]]:
    return [(device_id, Channel.TELEMETRY, encode("telemetry", [point(i)])) for i in range(count)]


async def _done(consumer: object, count: int) -> bool:
    return _done_sync((consumer,), count)


async def _done_by(consumers: tuple[object, ...], count: int) -> bool:
    return _done_sync(consumers, count)


def _done_sync(consumers: tuple[object, ...], count: int) -> bool:
    return sum(c.stored + c.dead for c in consumers) >= count  # type: ignore[attr-defined]


async def _dlq_is(settings: Settings, count: int) -> bool:
    return (await depths(settings))[1] == count


async def _cli(settings: Settings, *args: str) -> Result:
    env = {"GRIDPILOT_AMQP_URL": settings.amqp_url or "", "GRIDPILOT_AMQP_PREFIX": settings.amqp_prefix}
    return await asyncio.to_thread(CliRunner().invoke, full_app(), list(args), env=env)


async def test_mqtt_messages_are_forwarded_to_the_queue_and_stored_by_a_worker(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    await fleet(api, 1)
    port = processes.free_port()
    broker = processes.mosquitto(tmp_path, port).start()
    try:
        processes.wait_listening(port)
        mqtt = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{port}", "mqtt_prefix": "t/v1"})
        queue = await rabbit.RabbitQueue.open(mqtt)
        consumer = MqttConsumer(mqtt, queue)
        task = asyncio.create_task(consumer.run())
        try:
            await asyncio.wait_for(consumer.ready.wait(), 10)
            async with aiomqtt.Client("127.0.0.1", port) as device:
                await device.publish("t/v1/devices/bat-0/telemetry", encode("telemetry", [point(7)]), qos=1)
            async with consuming(mqtt, api.app.state.session_factory) as worker:
                await until("the MQTT message stored", lambda: _done(worker, 1))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await queue.close()
    finally:
        broker.kill()
    assert await stored(api.app.state.session_factory) == (0, 1)


@pytest.mark.parametrize("bundled", [False, True], ids=["one-per-message", "one-bundle"])
async def test_a_message_that_keeps_failing_is_retried_with_a_delay_then_dead_lettered(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch, bundled: bool
) -> None:
    await fleet(api, 2)
    original, original_many = telemetry_service.record, telemetry_service.record_many

    async def flaky(**kwargs: Any) -> Any:  # a bug that hits bat-1 only, in the batch and in the one-by-one path
        if kwargs.get("device_id") == "bat-1" or "bat-1" in kwargs.get("points_by_device", {}):
            raise RuntimeError("a bug that hits bat-1 only")
        return await (original(**kwargs) if "device_id" in kwargs else original_many(**kwargs))

    monkeypatch.setattr(telemetry_service, "record", flaky)
    monkeypatch.setattr(telemetry_service, "record_many", flaky)
    twice = settings.model_copy(update={"worker_max_attempts": 2})
    await put_all(twice, [*_telemetry("bat-0", 1), *_telemetry("bat-1", 1)], bundled=bundled)
    async with consuming(twice, api.app.state.session_factory) as consumer:
        await until("bat-0 stored and bat-1 dead after one delayed retry", lambda: _done(consumer, 2), timeout_s=10)
    assert await stored(api.app.state.session_factory) == (0, 1)
    [dead] = await dlq.peek(twice, limit=10)
    assert (dead.device_id, dead.attempts) == ("bat-1", 2)
    assert "failed 2 time(s)" in dead.reason and "RuntimeError: a bug that hits bat-1 only" in dead.reason
