"""The RabbitMQ side of `gridpilot worker`: device messages in batches, one transaction each, acked after the commit.

A batch is up to `worker_batch_size` messages or what arrived within `worker_batch_wait_ms`
of its first. If its transaction fails, each message is retried in a transaction of its
own to find the culprit: a refused message goes to the DLQ with the reason; any other
failure sends it to the retry queue with a growing delay, and to the DLQ after
`worker_max_attempts`. While the database is down, nothing is counted against the
messages: the batch is requeued and the worker backs off. Writes are idempotent, so a
batch redelivered after a crash (committed, not yet acked) changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot import observability
from gridpilot.config import Settings
from gridpilot.db import utcnow
from gridpilot.live.bus import LiveBus
from gridpilot.live.publish import publish_stored
from gridpilot.messaging import bundle, rabbit
from gridpilot.messaging.handlers import (
    DeviceMessage,
    MessageRejected,
    ParsedBatch,
    handle_device_message,
    parse_batch,
    store_device_batch,
)

log = logging.getLogger("gridpilot.worker")
_MAX_OUTAGE_BACKOFF_S = 30.0
_MAX_RETRY_DELAY_S = 300.0
_DEPTH_EVERY_S = 5.0
_BATCHES_DELIVERED = 2  # the prefetch holds the batch being written and the next one


@dataclass
class _Item:
    """A delivered message and what became of it (reason None = stored)."""

    incoming: AbstractIncomingMessage
    message: DeviceMessage | None
    first_received: str
    attempts: int
    reason: str | None = None
    retry: bool = False


class BatchConsumer:
    """Consumes `{prefix}.device-messages` until cancelled; counts what it did (for metrics and tests)."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        now: Callable[[], datetime] = utcnow,
        bus: LiveBus | None = None,
    ) -> None:
        self._settings = settings
        self._session_factory = session_factory
        self._now = now
        self._bus = bus  # where the stored messages' live events go, once per batch after its ack
        self._names = rabbit.Names.of(settings.amqp_prefix)
        self._contact_every = timedelta(seconds=settings.device_contact_write_every_s)
        self._outage_delay = 0.5
        self.ready = asyncio.Event()
        self.batches = 0
        self.stored = 0
        self.dead = 0

    async def run(self) -> None:
        """Consume with a connection that reconnects by itself; unacked messages return to the queue if we die."""
        connection = await rabbit.connect_when_up(self._settings)
        depth_task: asyncio.Task[None] | None = None
        try:
            channel = await connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=_BATCHES_DELIVERED * self._settings.worker_batch_size)
            await rabbit.declare(channel, self._names)
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

            async def deliver(message: AbstractIncomingMessage) -> None:
                inbox.put_nowait(message)

            queue = await channel.get_queue(self._names.main)
            await queue.consume(deliver)
            depth_task = asyncio.create_task(self._watch_depths(connection), name="queue-depths")
            self.ready.set()
            log.info("consuming device messages from %s", self._names.main)
            await self._consume(channel, inbox)
        finally:
            self.ready.clear()
            if depth_task is not None:
                depth_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await depth_task
            await connection.close()

    async def _consume(self, channel: AbstractChannel, inbox: asyncio.Queue[AbstractIncomingMessage]) -> None:
        """Write one batch at a time, in delivery order; collect and parse the next meanwhile (a pipeline of two).

        One transaction at a time keeps the acks in order and our own batches from waiting on
        each other's row locks; what overlaps is the CPU work of the next batch with the
        database round trips of this one.
        """
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                deliveries = await self._collect_while_writing(inbox, writing)
                if not deliveries:
                    continue
                batch = _prepare(deliveries)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._process(channel, batch), name="batch-write")
        finally:
            if writing is not None:
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing

    async def _collect_while_writing(
        self, inbox: asyncio.Queue[AbstractIncomingMessage], writing: asyncio.Task[None] | None
    ) -> list[AbstractIncomingMessage]:
        """The next batch; the write of the previous one failing raises at once, not at the next delivery."""
        collecting = asyncio.ensure_future(self._collect(inbox))
        if writing is not None:
            await asyncio.wait({collecting, writing}, return_when=asyncio.FIRST_COMPLETED)
            if writing.done() and writing.exception() is not None:
                collecting.cancel()
                writing.result()
        return await collecting

    async def _collect(self, inbox: asyncio.Queue[AbstractIncomingMessage]) -> list[AbstractIncomingMessage]:
        """Up to batch-size device messages (bundles count for what they hold), waiting at most batch-wait after
        the first; drops those of a lost channel."""
        batch = [await inbox.get()]
        size = _size(batch[0])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.worker_batch_wait_ms / 1000
        while size < self._settings.worker_batch_size:
            if not inbox.empty():
                batch.append(inbox.get_nowait())
                size += _size(batch[-1])
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    batch.append(await inbox.get())
                size += _size(batch[-1])
            except TimeoutError:
                break
        return [m for m in batch if _live(m)]  # a message of a closed channel is redelivered on the new one

    async def _process(self, channel: AbstractChannel, batch: _Batch) -> None:
        items, valid = batch.items, batch.valid
        try:
            reasons = await store_device_batch(
                session_factory=self._session_factory,
                batch=batch.parsed,
                now=self._now,
                contact_every=self._contact_every,
            )
            for item, reason in zip(valid, reasons, strict=True):
                item.reason = reason
            self.batches += 1
        except Exception as exc:  # noqa: BLE001 - any failure of the batch is narrowed down message by message
            log.warning("a batch of %s messages failed (%s); retrying one by one", len(valid), exc)
            if not await self._isolate(valid):
                await self._requeue_after_outage(batch.deliveries)
                return
        self._outage_delay = 0.5
        await self._settle(channel, items)
        await publish_stored(self._bus, [i.message for i in items if i.reason is None and i.message is not None])

    async def _isolate(self, items: Sequence[_Item]) -> bool:
        """One transaction per message; False if the database itself is away (then nothing is decided)."""
        for item in items:
            assert item.message is not None
            try:
                async with self._session_factory() as session:
                    await handle_device_message(
                        session=session,
                        device_id=item.message.device_id,
                        channel=item.message.channel,
                        payload=item.message.payload,
                        now=self._now(),
                        contact_every=self._contact_every,
                    )
                    await session.commit()
            except MessageRejected as exc:
                item.reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - counted against the message; the DLQ keeps what keeps failing
                if isinstance(exc, DBAPIError) and not await self._database_reachable():
                    return False
                item.attempts += 1
                item.retry = item.attempts < self._settings.worker_max_attempts
                item.reason = f"failed {item.attempts} time(s), last: {type(exc).__name__}: {exc}"[:1000]
        return True

    async def _settle(self, channel: AbstractChannel, items: list[_Item]) -> None:
        """Move refused messages to the DLQ and failed ones to the retry queue (confirmed), then ack the batch."""
        committed = self._now()
        for item in items:
            if item.reason is None:
                observability.QUEUE_LATENCY.observe(_age(item.first_received, committed))
                self.stored += 1
                observability.QUEUE_MESSAGES.labels("processed").inc()
            elif item.retry:
                delay = min(2.0 ** (item.attempts - 1), _MAX_RETRY_DELAY_S)
                await channel.default_exchange.publish(
                    _copy(item, expiration=delay, last_error=item.reason), routing_key=self._names.retry
                )
            else:
                log.warning("dead-lettering a message: %s", item.reason)
                await channel.default_exchange.publish(_copy(item, reason=item.reason), routing_key=self._names.dead)
                self.dead += 1
                observability.QUEUE_MESSAGES.labels("dead").inc()
        await items[-1].incoming.ack(multiple=True)  # every earlier delivery on this channel is in this batch

    async def _requeue_after_outage(self, batch: list[AbstractIncomingMessage]) -> None:
        observability.DATABASE_ERRORS.labels("worker").inc()
        log.error(
            "the database is unreachable; requeueing %s messages, retrying in %.1f s", len(batch), self._outage_delay
        )
        await asyncio.sleep(self._outage_delay)
        self._outage_delay = min(self._outage_delay * 2, _MAX_OUTAGE_BACKOFF_S)
        await batch[-1].nack(multiple=True, requeue=True)

    async def _database_reachable(self) -> bool:
        try:
            async with self._session_factory() as session:
                await session.execute(text("SELECT 1"))
        except (DBAPIError, OSError):
            return False
        return True

    async def _watch_depths(self, connection: AbstractRobustConnection) -> None:
        """Queue depth and DLQ size into the gauges, every few seconds, from passive declarations."""
        while True:
            try:
                async with connection.channel() as channel:
                    while True:
                        main, dead = await rabbit.depths(channel, self._names)
                        observability.QUEUE_DEPTH.set(main)
                        observability.DLQ_SIZE.set(dead)
                        await asyncio.sleep(_DEPTH_EVERY_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - metrics must not stop the worker
                log.warning("reading the queue depths failed: %s", exc)
                await asyncio.sleep(_DEPTH_EVERY_S)


@dataclass
class _Batch:
    """Collected deliveries, their device messages cut out of their bundles and parsed: all but the database."""

    deliveries: list[AbstractIncomingMessage]
    items: list[_Item]
    valid: list[_Item]  # those with a device message (a broken bundle or headers have none)
    parsed: ParsedBatch


def _prepare(deliveries: list[AbstractIncomingMessage]) -> _Batch:
    items = [item for m in deliveries for item in _items(m)]
    valid = [i for i in items if i.message is not None]
    return _Batch(deliveries, items, valid, parse_batch([i.message for i in valid if i.message is not None]))


def _items(incoming: AbstractIncomingMessage) -> list[_Item]:
    """The device messages a queued message carries: itself, or each of a bundle (a broken one: itself, refused)."""
    if incoming.content_type == bundle.CONTENT_TYPE:
        first, attempts = rabbit.delivery_headers(incoming.headers)
        try:
            return [_Item(incoming, message, first, attempts) for message in bundle.unpack(incoming.body)]
        except MessageRejected as exc:
            return [_Item(incoming, None, first, attempts, reason=str(exc))]
    try:
        device_id, channel, first, attempts = rabbit.decode_headers(incoming.headers)
    except MessageRejected as exc:
        return [_Item(incoming, None, rabbit.now_text(), 0, reason=str(exc))]
    return [_Item(incoming, DeviceMessage(device_id, channel, incoming.body), first, attempts)]


def _size(incoming: AbstractIncomingMessage) -> int:
    """How many device messages it carries, as its sender declared (for sizing batches only)."""
    count = incoming.headers.get("bundle") if incoming.content_type == bundle.CONTENT_TYPE else 1
    return count if isinstance(count, int) and count > 0 else 1


def _copy(item: _Item, *, expiration: float | None = None, **extra: str) -> aio_pika.Message:
    """The device message again, on its own, with its attempts and reason (a DLQ or retry copy)."""
    if item.message is None:  # unreadable: the queued message as it came
        headers = {k: v for k, v in item.incoming.headers.items() if k not in ("attempts", "reason", "last_error")}
        return aio_pika.Message(
            item.incoming.body,
            headers={**headers, "attempts": item.attempts, **extra},
            content_type=item.incoming.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=item.incoming.message_id,
            expiration=expiration,
        )
    return rabbit.message(
        device_id=item.message.device_id,
        channel=item.message.channel,
        payload=item.message.payload,
        first_received=item.first_received,
        attempts=item.attempts,
        expiration=expiration,
        **extra,
    )


def _age(first_received: str, now: datetime) -> float:
    try:
        return max((now - datetime.fromisoformat(first_received)).total_seconds(), 0.0)
    except (ValueError, TypeError):
        return 0.0


def _live(message: AbstractIncomingMessage) -> bool:
    try:
        return not message.channel.is_closed
    except ChannelInvalidStateError:
        return False
