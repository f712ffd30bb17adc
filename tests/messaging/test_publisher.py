"""The server's MQTT publisher: a push the broker never confirmed is published at the next connection."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

from gridpilot.config import Settings
from gridpilot.fleet import distribution
from gridpilot.fleet.schemas import DeviceScheduleOut
from gridpilot.messaging.mqtt import MqttPublisher
from tests.agent import processes
from tests.conftest import Api
from tests.fleet.factories import schedule


async def test_views_stored_while_no_broker_confirmed_them_are_published_on_connection(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    for device_id in ("bat-1", "bat-2"):  # stored, never pushed: no broker was configured
        await api.register_device(device_id)
        response = await api.client.post("/api/v1/schedules", json=schedule(device_id, count=2), headers=api.admin)
        assert response.status_code == 201, response.text
    port = processes.free_port()
    broker = processes.mosquitto(tmp_path, port).start()
    mqtt = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{port}", "mqtt_prefix": "t/v1"})
    session_factory = api.app.state.session_factory

    async def republish() -> int:
        now = datetime.now(UTC)
        return await distribution.push_unsent(session_factory=session_factory, publisher=publisher, now=now)

    publisher = MqttPublisher(mqtt, republish=republish)
    try:
        processes.wait_listening(port)
        await publisher.start()
        assert await publisher.wait_connected(10)
        retained: dict[str, int] = {}
        async with aiomqtt.Client("127.0.0.1", port) as subscriber:
            await subscriber.subscribe("t/v1/devices/+/schedule", qos=1)
            async with asyncio.timeout(10):
                async for message in subscriber.messages:
                    view = json.loads(message.payload)["data"]
                    retained[view["device_id"]] = len(view["intervals"])
                    if len(retained) == 2:
                        break

        async def delivery_states() -> list[list[str]]:
            states = []
            for device_id in ("bat-1", "bat-2"):
                history = (await api.client.get(f"/api/v1/devices/{device_id}/schedules", headers=api.admin)).json()
                states.append([item["delivery"]["state"] for item in history["items"]])
            return states

        # the subscriber can hear the views before the publisher has the broker's confirmations and records
        # them; stopping the publisher first would cut that short (the views stay queued, for the next start)
        for _ in range(200):  # up to 10 s
            if await delivery_states() == [["sent"], ["sent"]]:
                break
            await asyncio.sleep(0.05)
    finally:
        await publisher.stop()
        broker.kill()
    assert retained == {"bat-1": 2, "bat-2": 2}
    assert await delivery_states() == [["sent"], ["sent"]]


def _views(count: int) -> list[DeviceScheduleOut]:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    interval = {"start": start, "end": start + timedelta(hours=1), "mode": 1, "rate_kw": 2.0}
    return [
        DeviceScheduleOut.model_validate(
            {"device_id": f"bat-{i}", "version": 1, "intervals": [{"id": i, "schedule_id": i, **interval}]}
        )
        for i in range(1, count + 1)
    ]


async def test_a_push_of_many_views_is_confirmed_whole_and_each_view_retained_on_its_own_topic(
    settings: Settings, tmp_path: Path
) -> None:
    port = processes.free_port()
    broker = processes.mosquitto(tmp_path, port).start()
    publisher = MqttPublisher(settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{port}", "mqtt_prefix": "m"}))
    views = _views(700)  # more than the lanes, fewer than the broker's in-flight window times two
    try:
        processes.wait_listening(port)
        await publisher.start()
        assert await publisher.wait_connected(10)
        confirmed = await publisher.publish_views(views)
        retained: dict[str, str] = {}
        async with aiomqtt.Client("127.0.0.1", port) as subscriber:
            await subscriber.subscribe("m/devices/+/schedule", qos=1)
            async with asyncio.timeout(10):
                async for message in subscriber.messages:
                    retained[str(message.topic)] = json.loads(message.payload)["data"]["device_id"]
                    if len(retained) == len(views):
                        break
    finally:
        await publisher.stop()
        broker.kill()
    assert [view.device_id for view in confirmed] == [view.device_id for view in views]
    assert retained == {f"m/devices/{view.device_id}/schedule": view.device_id for view in views}


async def test_a_push_the_broker_stops_confirming_gives_up_and_reports_nothing_as_sent(
    settings: Settings, tmp_path: Path
) -> None:
    port = processes.free_port()
    broker = processes.mosquitto(tmp_path, port).start()
    publisher = MqttPublisher(
        settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{port}", "mqtt_prefix": "s"}), stalled_s=1.0
    )
    try:
        processes.wait_listening(port)
        await publisher.start()
        assert await publisher.wait_connected(10)
        broker.signal(signal.SIGSTOP)  # connected, but nothing is ever confirmed
        try:
            async with asyncio.timeout(30):  # the stall ends the push, not this
                confirmed = await publisher.publish_views(_views(3))
        finally:
            broker.signal(signal.SIGCONT)
        assert confirmed == []
        again = await publisher.publish_views(_views(3))
    finally:
        await publisher.stop()
        broker.kill()
    assert [view.device_id for view in again] == ["bat-1", "bat-2", "bat-3"]
