"""Where device messages go once received: straight to the handlers (embedded) or to RabbitMQ (scale-out).

Both kinds return from `put` only once the message is safe: committed to the database,
or confirmed by the broker on a durable queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot import observability
from gridpilot.config import Settings
from gridpilot.db import utcnow
from gridpilot.live.bus import LiveBus
from gridpilot.live.publish import publish_stored
from gridpilot.messaging.handlers import (
    DeviceMessage,
    MessageRejected,
    handle_device_message,
    parse_batch,
    store_device_batch,
)
from gridpilot.protocol.mqtt import Channel

log = logging.getLogger("gridpilot.messaging")
_MAX_DB_BACKOFF_S = 30.0


class DeviceMessageQueue(Protocol):
    """Accepts device messages for processing; `put` returns once the message cannot be lost."""

    async def put(self, device_id: str, channel: Channel, payload: bytes) -> None:
        """Hand over one message (the raw MQTT envelope)."""

    async def put_many(self, messages: Sequence[DeviceMessage]) -> None:
        """Hand over many at once (what an MQTT consumer read in one go); returns once all are safe."""

    async def close(self) -> None:
        """Release connections."""


class InProcessQueue:
    """The embedded default: process each message at once in its own transaction, waiting out database outages.

    After each commit the stored messages' live events go to the bus (one publish per call).
    """

    def __init__(
        self, settings: Settings, session_factory: async_sessionmaker[AsyncSession], bus: LiveBus | None = None
    ) -> None:
        self._session_factory = session_factory
        self._contact_every = timedelta(seconds=settings.device_contact_write_every_s)
        self._bus = bus

    async def put(self, device_id: str, channel: Channel, payload: bytes) -> None:
        """Store the message now; a rejected one is logged and counted, not raised (there is nobody to tell)."""
        if await self._store(device_id, channel, payload):
            await publish_stored(self._bus, [DeviceMessage(device_id, channel, payload)])

    async def _store(self, device_id: str, channel: Channel, payload: bytes) -> bool:
        """Store one message in its own transaction; False if it was refused."""
        delay = 0.5
        while True:
            try:
                async with self._session_factory() as session:
                    await handle_device_message(
                        session=session,
                        device_id=device_id,
                        channel=channel,
                        payload=payload,
                        now=utcnow(),
                        contact_every=self._contact_every,
                    )
                    await session.commit()
                break
            except MessageRejected as exc:
                observability.MQTT_MESSAGES.labels("rejected", channel.value).inc()
                log.warning("message from %s on %s refused: %s", device_id, channel.value, exc)
                return False
            except DBAPIError as exc:  # the database is away: hold this message (the broker holds the rest)
                log.error(
                    "database error while storing a message from %s, retrying in %.1f s: %s", device_id, delay, exc
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_DB_BACKOFF_S)
        observability.MQTT_MESSAGES.labels("in", channel.value).inc()
        return True

    async def put_many(self, messages: Sequence[DeviceMessage]) -> None:
        """Store them in one transaction; if it fails, message by message (which finds and skips the refused)."""
        try:
            reasons = await store_device_batch(
                session_factory=self._session_factory,
                batch=parse_batch(messages),
                now=utcnow,
                contact_every=self._contact_every,
            )
        except Exception as exc:  # noqa: BLE001 - narrowed down message by message, which waits out outages
            log.warning("a batch of %s messages failed (%s); storing them one by one", len(messages), exc)
            stored = [m for m in messages if await self._store(m.device_id, m.channel, m.payload)]
            await publish_stored(self._bus, stored)
            return
        for message, reason in zip(messages, reasons, strict=True):
            if reason is None:
                observability.MQTT_MESSAGES.labels("in", message.channel.value).inc()
            else:
                observability.MQTT_MESSAGES.labels("rejected", message.channel.value).inc()
                log.warning("message from %s on %s refused: %s", message.device_id, message.channel.value, reason)
        await publish_stored(self._bus, [m for m, reason in zip(messages, reasons, strict=True) if reason is None])

    async def close(self) -> None:
        """Nothing to release."""


async def open_queue(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], bus: LiveBus | None = None
) -> DeviceMessageQueue:
    """RabbitMQ when GRIDPILOT_AMQP_URL is set (its consumer publishes live events), else the in-process handlers."""
    if settings.amqp_url:
        from gridpilot.messaging.rabbit import RabbitQueue  # aio-pika only where RabbitMQ is configured

        return await RabbitQueue.open(settings)
    return InProcessQueue(settings, session_factory, bus)


async def get_device_queue(request: Request) -> DeviceMessageQueue | None:
    """The app's RabbitMQ queue, or None in the embedded mode (routes then store synchronously)."""
    queue: DeviceMessageQueue | None = getattr(request.app.state, "device_queue", None)
    return queue


DeviceQueueDep = Annotated[DeviceMessageQueue | None, Depends(get_device_queue)]
