"""The dead-letter queue: look at what was refused and why, and send it back once the cause is fixed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika

from gridpilot.config import Settings
from gridpilot.messaging import rabbit


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message in the DLQ, as `gridpilot dlq list` shows it."""

    device_id: str
    channel: str
    reason: str
    attempts: int
    first_received: str
    size: int


async def peek(settings: Settings, *, limit: int) -> list[DeadLetter]:
    """The first `limit` dead letters, left in the queue in their order (fetched unacked, then all requeued)."""
    names = rabbit.Names.of(settings.amqp_prefix)
    connection = await rabbit.connect(settings)
    try:
        channel = await connection.channel()
        await rabbit.declare(channel, names)
        queue = await channel.get_queue(names.dead)
        taken: list[aio_pika.abc.AbstractIncomingMessage] = []
        while len(taken) < limit and (message := await queue.get(no_ack=False, fail=False)) is not None:
            taken.append(message)
        if taken:
            await taken[-1].nack(multiple=True, requeue=True)  # a classic queue puts them back where they were
        return [_row(m.headers, len(m.body)) for m in taken]
    finally:
        await connection.close()


async def replay(settings: Settings, *, limit: int | None) -> int:
    """Move up to `limit` dead letters (all that are there now, if None) back to the main queue; returns how many."""
    names = rabbit.Names.of(settings.amqp_prefix)
    connection = await rabbit.connect(settings)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await rabbit.declare(channel, names)
        queue = await channel.declare_queue(names.dead, passive=True)
        waiting = queue.declaration_result.message_count or 0  # bound even if workers dead-letter them again meanwhile
        moved = 0
        while moved < (waiting if limit is None else min(limit, waiting)):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {k: v for k, v in message.headers.items() if k not in ("reason", "attempts", "x-death")}
            again = aio_pika.Message(
                message.body,
                headers={**headers, "attempts": 0},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
            )
            await channel.default_exchange.publish(again, routing_key=names.main)  # confirmed before the DLQ copy goes
            await message.ack()
            moved += 1
        return moved
    finally:
        await connection.close()


def _row(headers: dict[str, Any], size: int) -> DeadLetter:
    reason = _text(headers.get("reason"))
    if not reason:  # dead-lettered by RabbitMQ itself (rejected, expired): its x-death header says why
        deaths = headers.get("x-death")
        if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
            reason = f"rabbitmq: {_text(deaths[0].get('reason'))}"
    attempts = headers.get("attempts")
    return DeadLetter(
        device_id=_text(headers.get("device_id")),
        channel=_text(headers.get("channel")),
        reason=reason,
        attempts=attempts if isinstance(attempts, int) else 0,
        first_received=_text(headers.get("first_received")),
        size=size,
    )


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else ""
