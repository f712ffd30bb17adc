"""Publishing after a commit: the events of what was stored go out, and nothing here can fail the writer."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from gridpilot.live.bus import LiveBus
from gridpilot.live.events import LiveEvent, events_from_payloads
from gridpilot.protocol.mqtt import Channel

log = logging.getLogger(__name__)


async def publish_events(bus: LiveBus | None, events: Sequence[LiveEvent]) -> None:
    """Publish the events if there is a bus; an error is logged, never raised (the write already succeeded)."""
    if bus is None or not events:
        return
    try:
        await bus.publish(events)
    except Exception:
        log.exception("publishing %s live events failed", len(events))


class StoredMessage(Protocol):
    """A device message that was stored (the messaging layer's DeviceMessage)."""

    @property
    def device_id(self) -> str: ...

    @property
    def channel(self) -> Channel: ...

    @property
    def payload(self) -> bytes: ...


async def publish_stored(bus: LiveBus | None, stored: Iterable[StoredMessage]) -> None:
    """One publish for a batch of stored device messages (device, channel, envelope)."""
    if bus is None:
        return
    try:
        events = events_from_payloads((m.device_id, m.channel, m.payload) for m in stored)
    except Exception:
        log.exception("building live events failed")
        return
    await publish_events(bus, events)
