"""RabbitMQ topology and publishing of device messages (aio-pika, publisher confirms, persistent messages).

Topology under a prefix (`gridpilot` in production; tests use their own):
- `{prefix}.device-messages`  durable queue the workers consume; dead-letters to `{prefix}.dead-letters`
- `{prefix}.retry`            durable queue without consumers: a message waits out its per-message TTL there,
                              then RabbitMQ dead-letters it back to `{prefix}.device-messages`
- `{prefix}.dead-letters`     fanout exchange and durable queue (the DLQ) for messages that will not be processed
- `{prefix}.optimization-tasks` durable queue of fleet optimization tasks (`gridpilot.messaging.tasks`)

A message is one device message, with headers device_id, channel, first_received (RFC 3339
UTC) and attempts, or a bundle of many (content type `bundle.CONTENT_TYPE`, headers bundle =
how many, first_received, attempts), which the MQTT consumer sends to pay the broker's cost
once per read rather than per message. A dead-lettered message also carries reason; the
DLQ and the retry queue hold single messages, cut out of their bundle (a bundle whose framing
is broken goes to the DLQ whole).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import AMQPConnectionError

from gridpilot import observability
from gridpilot.config import Settings
from gridpilot.messaging import bundle
from gridpilot.messaging.handlers import DeviceMessage, MessageRejected
from gridpilot.protocol.mqtt import Channel

log = logging.getLogger("gridpilot.worker")
_MAX_CONNECT_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class Names:
    """The queue and exchange names of one prefix."""

    main: str
    retry: str
    dead: str
    tasks: str  # fleet optimization tasks (gridpilot.messaging.tasks)

    @classmethod
    def of(cls, prefix: str) -> Names:
        """The names under `prefix`."""
        return cls(
            f"{prefix}.device-messages", f"{prefix}.retry", f"{prefix}.dead-letters", f"{prefix}.optimization-tasks"
        )


async def declare(channel: AbstractChannel, names: Names) -> None:
    """Create the queues and the dead-letter exchange if missing (idempotent; every process does it at start)."""
    dead = await channel.declare_exchange(names.dead, aio_pika.ExchangeType.FANOUT, durable=True)
    dlq = await channel.declare_queue(names.dead, durable=True)
    await dlq.bind(dead)
    await channel.declare_queue(names.main, durable=True, arguments={"x-dead-letter-exchange": names.dead})
    await channel.declare_queue(
        names.retry, durable=True, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.main}
    )


async def delete(channel: AbstractChannel, names: Names) -> None:
    """Remove the queues and the exchange (tests clean up their prefix with it)."""
    for queue in (names.main, names.retry, names.dead, names.tasks):
        await channel.queue_delete(queue)
    await channel.exchange_delete(names.dead)


async def depths(channel: AbstractChannel, names: Names) -> tuple[int, int]:
    """Ready messages in the main queue and in the DLQ (passive declarations: nothing is consumed)."""
    main = await channel.declare_queue(names.main, passive=True)
    dead = await channel.declare_queue(names.dead, passive=True)
    return _count(main), _count(dead)


def _count(queue: aio_pika.abc.AbstractQueue) -> int:
    result = queue.declaration_result
    return int(result.message_count or 0) if result is not None else 0


def message(
    *,
    device_id: str,
    channel: Channel,
    payload: bytes,
    first_received: str,
    attempts: int = 0,
    expiration: float | None = None,
    **extra: Any,
) -> aio_pika.Message:
    """A persistent message with the headers every consumer relies on (expiration: seconds in the retry queue)."""
    headers: dict[str, Any] = {
        "device_id": device_id,
        "channel": channel.value,
        "first_received": first_received,
        "attempts": attempts,
        **extra,
    }
    return aio_pika.Message(
        payload,
        headers=headers,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=uuid.uuid4().hex,
        expiration=expiration,
    )


def decode_headers(headers: Mapping[str, Any]) -> tuple[str, Channel, str, int]:
    """(device_id, channel, first_received, attempts) of a queued message; MessageRejected if they are unusable."""
    device_id, channel = _text(headers.get("device_id")), _text(headers.get("channel"))
    if not device_id or channel not in Channel._value2member_map_:
        raise MessageRejected(f"a queued message needs headers device_id and channel, not {dict(headers)!r}")
    return device_id, Channel(channel), *delivery_headers(headers)


def delivery_headers(headers: Mapping[str, Any]) -> tuple[str, int]:
    """(first_received, attempts) of any queued message, single or bundle; now and 0 where missing."""
    attempts = headers.get("attempts")
    return _text(headers.get("first_received")) or now_text(), attempts if isinstance(attempts, int) else 0


def as_device_message(headers: Mapping[str, Any], body: bytes) -> DeviceMessage:
    """The handlers' view of a queued message."""
    device_id, channel, _, _ = decode_headers(headers)
    return DeviceMessage(device_id, channel, body)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else ""


def now_text() -> str:
    """Now as the first_received header spells it."""
    return datetime.now(UTC).isoformat()


async def connect(settings: Settings) -> AbstractRobustConnection:
    """A connection that reconnects by itself (channels, queues and consumers are restored)."""
    return await aio_pika.connect_robust(settings.amqp_url, client_properties={"connection_name": "gridpilot"})


async def connect_when_up(settings: Settings) -> AbstractRobustConnection:
    """The first connection of a consumer, waiting for RabbitMQ if it is not up yet (aio-pika heals later losses)."""
    delay = 1.0
    while True:
        try:
            return await connect(settings)
        except (OSError, AMQPConnectionError) as exc:
            log.warning("RabbitMQ unreachable (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_CONNECT_BACKOFF_S)


class RabbitQueue:
    """Puts device messages on the durable queue; `put` returns once the broker confirmed it."""

    def __init__(self, connection: AbstractRobustConnection, channel: AbstractChannel, names: Names) -> None:
        self._connection = connection
        self._channel = channel
        self.names = names

    @classmethod
    async def open(cls, settings: Settings) -> RabbitQueue:
        """Connect, declare the topology and open a confirming channel."""
        connection = await connect(settings)
        channel = await connection.channel(publisher_confirms=True)
        names = Names.of(settings.amqp_prefix)
        await declare(channel, names)
        return cls(connection, channel, names)

    async def put(self, device_id: str, channel: Channel, payload: bytes) -> None:
        """Publish persistently; raises (DeliveryError, connection errors) unless the broker confirmed."""
        body = message(device_id=device_id, channel=channel, payload=payload, first_received=now_text())
        await self._channel.default_exchange.publish(body, routing_key=self.names.main)
        observability.QUEUE_MESSAGES.labels("in").inc()

    async def put_many(self, messages: Sequence[DeviceMessage]) -> None:
        """Publish them as one persistent bundle; raises unless the broker confirmed it."""
        body = aio_pika.Message(
            bundle.pack(messages),
            content_type=bundle.CONTENT_TYPE,
            headers={"bundle": len(messages), "first_received": now_text(), "attempts": 0},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
        )
        await self._channel.default_exchange.publish(body, routing_key=self.names.main)
        observability.QUEUE_MESSAGES.labels("in").inc(len(messages))

    async def close(self) -> None:
        """Close the channel and the connection."""
        await self._connection.close()
