"""The live-event bus: in-process by default, Redis pub/sub when configured (several server processes).

Publishers (the server's HTTP routes, the in-process queue, RabbitMQ workers) publish a
batch of events after their commit; every server process subscribes and hands them to its
WebSocket clients. Events are a view, not a record: a publish that fails is logged and
dropped, never allowed to fail or hold up the write that produced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import redis.asyncio as redis

from gridpilot.config import Settings
from gridpilot.live.events import LiveEvent, decode_events, encode_events

log = logging.getLogger(__name__)

_SUBSCRIBER_BACKLOG = 1000  # batches a slow in-process subscriber may fall behind before it loses the oldest
_OUTBOX = 1000  # batches waiting for Redis before new ones are dropped
_COALESCE = 100  # batches sent as one Redis message when they piled up
_REDIS_TIMEOUT_S = 2.0  # a stalled Redis costs the sender this long per try, never the writer
_CLOSE_FLUSH_S = 2.0


class LiveBus(Protocol):
    """Publish batches of live events; subscribe to everyone's. `publish` never raises."""

    async def publish(self, events: Sequence[LiveEvent]) -> None: ...

    def subscribe(self) -> AsyncIterator[list[LiveEvent]]: ...

    async def close(self) -> None: ...


class LocalBus:
    """The embedded default: fan-out to the subscribers of this process."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[list[LiveEvent]]] = set()

    @property
    def subscribers(self) -> int:
        """How many are listening (a hub that has started, a test that waits for one)."""
        return len(self._subscribers)

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        """Hand the batch to every subscriber; a subscriber that is far behind loses its oldest batch."""
        if not events:
            return
        batch = list(events)
        for inbox in self._subscribers:
            if inbox.full():
                inbox.get_nowait()
            inbox.put_nowait(batch)

    async def subscribe(self) -> AsyncIterator[list[LiveEvent]]:
        """Every batch published from now on, until the caller stops iterating."""
        inbox: asyncio.Queue[list[LiveEvent]] = asyncio.Queue(maxsize=_SUBSCRIBER_BACKLOG)
        self._subscribers.add(inbox)
        try:
            while True:
                yield await inbox.get()
        finally:
            self._subscribers.discard(inbox)

    async def close(self) -> None:
        """Nothing to release."""


class RedisBus:
    """Redis pub/sub on one channel per installation, so every server process sees every event.

    `publish` only queues the batch: a sender task does the network round trip, so a slow or
    absent Redis never holds up the commit path that published (the worker's ack to
    RabbitMQ, an HTTP answer). While Redis is away batches are dropped, with one warning
    when that starts and one line when it ends.
    """

    def __init__(self, url: str, channel: str) -> None:
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=_REDIS_TIMEOUT_S, socket_timeout=_REDIS_TIMEOUT_S, health_check_interval=30
        )
        self._channel = channel
        self._outbox: asyncio.Queue[Sequence[LiveEvent]] = asyncio.Queue(maxsize=_OUTBOX)
        self._sender: asyncio.Task[None] | None = None
        self._failing = False
        self.dropped = 0  # batches lost to a Redis outage or a full outbox (for tests and logs)

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        """Queue the batch for Redis and return at once; a full outbox drops it."""
        if not events:
            return
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="live-bus-sender")
        try:
            self._outbox.put_nowait(events)
        except asyncio.QueueFull:
            self._lost(1, "the outbox to Redis is full")

    async def _send(self) -> None:
        """Publish queued batches in order; what piled up during a round trip goes out as one message."""
        while True:
            batches = [await self._outbox.get()]
            while len(batches) < _COALESCE and not self._outbox.empty():
                batches.append(self._outbox.get_nowait())
            try:
                await self._client.publish(self._channel, encode_events([e for batch in batches for e in batch]))
            except (redis.RedisError, OSError) as exc:
                self._lost(len(batches), f"Redis: {exc}")
            except Exception:  # an event that does not encode: lose it, keep the sender
                log.exception("live events could not be published")
                self.dropped += len(batches)
            else:
                if self._failing:
                    log.warning("live events reach Redis again (%s batches were dropped)", self.dropped)
                    self._failing = False
            finally:
                for _ in batches:
                    self._outbox.task_done()

    def _lost(self, batches: int, why: str) -> None:
        self.dropped += batches
        if not self._failing:
            log.warning("live events are being dropped (%s); the dashboards miss them until Redis is back", why)
            self._failing = True

    async def subscribe(self) -> AsyncIterator[list[LiveEvent]]:
        """Every batch published on the channel, resubscribing after a Redis outage."""
        delay = 0.5
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    delay = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") == "message" and (events := decode_events(message["data"])):
                            yield events
            except (redis.RedisError, OSError) as exc:
                log.warning("live events: Redis subscription lost (%s), retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        """Send what is queued (briefly), stop the sender, close the connection pool."""
        if self._sender is not None and not self._sender.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), _CLOSE_FLUSH_S)
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self._client.aclose()


def open_bus(settings: Settings) -> LiveBus:
    """Redis when GRIDPILOT_REDIS_URL is set, else in-process."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, f"{settings.redis_prefix}:live")
    return LocalBus()
