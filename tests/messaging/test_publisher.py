"""The server's MQTT publisher: a push the broker never confirmed is published at the next connection."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from gridpilot.config import Settings
from gridpilot.fleet import distribution
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
                    view = json.loads(message.payload)["data"]  # type: ignore[arg-type]
                    retained[view["device_id"]] = len(view["intervals"])
                    if len(retained) == 2:
                        break
    finally:
        await publisher.stop()
        broker.kill()
    assert retained == {"bat-1": 2, "bat-2": 2}
    for device_id in ("bat-1", "bat-2"):
        history = (await api.client.get(f"/api/v1/devices/{device_id}/schedules", headers=api.admin)).json()
        assert [item["delivery"]["state"] for item in history["items"]] == ["sent"]
