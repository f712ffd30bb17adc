"""The live-event bus: in-process by default, Redis pub/sub when configured (several server processes).

Publishers (the server's HTTP routes, the in-process queue, RabbitMQ workers) publish a
batch of events after their commit; every server process subscribes and hands them to its
WebSocket clients. Events are a view, not a record: a publish that fails is logged and
dropped, never allowed to fail the write that produced it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import redis.asyncio as redis

from gridpilot.config import Settings
from gridpilot.live.events import LiveEvent, encode_events

log = logging.getLogger(__name__)

_SUBSCRIBER_BACKLOG = 1000  # batches a slow in-process subscriber may fall behind before it loses the oldest


class LiveBus(Protocol):
    """Publish batches of live events; subscribe to everyone's."""

    async def publish(self, events: Sequence[LiveEvent]) -> None: ...

    def subscribe(self) -> AsyncIterator[list[LiveEvent]]: ...

    async def close(self) -> None: ...


class LocalBus:
    """The embedded default: fan-out to the subscribers of this process."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[list[LiveEvent]]] = set()

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
    """Redis pub/sub on one channel per installation, so every server process sees every event."""

    def __init__(self, url: str, channel: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._channel = channel

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        """Publish the batch; Redis being away costs the live view these events, nothing else."""
        if not events:
            return
        try:
            await self._client.publish(self._channel, encode_events(events))
        except (redis.RedisError, OSError) as exc:
            log.warning("live events not published (Redis: %s)", exc)

    async def subscribe(self) -> AsyncIterator[list[LiveEvent]]:
        """Every batch published on the channel, resubscribing after a Redis outage."""
        delay = 0.5
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    delay = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            yield json.loads(message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("live events: Redis subscription lost (%s), retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def open_bus(settings: Settings) -> LiveBus:
    """Redis when GRIDPILOT_REDIS_URL is set, else in-process."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, f"{settings.redis_prefix}:live")
    return LocalBus()
