"""The embedded queue: what the MQTT consumer read in one go is stored in one transaction, the refused skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridpilot.config import Settings
from gridpilot.messaging.handlers import DeviceMessage
from gridpilot.messaging.queue import InProcessQueue
from gridpilot.protocol.mqtt import Channel, encode
from tests.conftest import Api
from tests.messaging.rabbit import fleet, point, stored


async def test_many_messages_are_stored_together_and_a_refused_one_is_skipped(api: Api, settings: Settings) -> None:
    devices = await fleet(api, 2)
    good = devices.acks("bat-0", 3) + devices.telemetry("bat-1", 4)
    messages = [DeviceMessage(*m) for m in good] + [DeviceMessage("ghost", Channel.ACKS, b"{not json")]
    await InProcessQueue(settings, api.app.state.session_factory).put_many(messages)
    assert await stored(api.app.state.session_factory) == (3, 4)


async def test_a_batch_refused_as_a_whole_is_stored_message_by_message(api: Api, settings: Settings) -> None:
    devices = await fleet(api, 1)
    future = {**point(0), "at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    messages = [
        *(DeviceMessage(*m) for m in devices.telemetry("bat-0", 3)),
        DeviceMessage("bat-0", Channel.TELEMETRY, encode("telemetry", [future])),  # fails the device's whole group
    ]
    await InProcessQueue(settings, api.app.state.session_factory).put_many(messages)
    assert await stored(api.app.state.session_factory) == (0, 3)
