"""Live-bus fixtures: settings with a Redis channel prefix of the test's own, helpers to read a subscription."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis

from gridpilot.config import Settings
from gridpilot.live.bus import LiveBus, LocalBus
from gridpilot.live.events import LiveEvent

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_settings(tmp_path: object) -> Settings:
    """Settings pointing at the real Redis, under a channel prefix nobody else uses (pub/sub leaves nothing behind)."""
    prefix = f"gridpilot-test-{uuid.uuid4().hex[:10]}"
    return Settings(environment="test", log_json=False, redis_url=REDIS_URL, redis_prefix=prefix)  # type: ignore[call-arg]


class Subscription:
    """A bus subscription read by a task of its own, so batches are collected while the test acts."""

    def __init__(self, bus: LiveBus) -> None:
        self.batches: list[list[LiveEvent]] = []
        self.arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read(bus))

    async def _read(self, bus: LiveBus) -> None:
        async for batch in bus.subscribe():
            self.batches.append(batch)
            self.arrived.set()

    @property
    def events(self) -> list[LiveEvent]:
        """Every event received so far, in order."""
        return [event for batch in self.batches for event in batch]

    async def until(self, count: int, timeout_s: float = 15.0) -> list[LiveEvent]:
        """Wait until at least `count` events have arrived; returns them all."""
        async with asyncio.timeout(timeout_s):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events

    async def stop(self) -> None:
        """End the subscription."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def subscribed(bus: LiveBus, channel: str | None = None) -> AsyncIterator[Subscription]:
    """A running subscription; with a Redis channel, entered only once Redis counts the subscriber."""
    before = bus.subscribers if isinstance(bus, LocalBus) else 0
    subscription = Subscription(bus)
    try:
        if isinstance(bus, LocalBus):
            await eventually(lambda: bus.subscribers > before, poll_s=0)
        elif channel is not None:
            await until_subscribed(channel, 1)
        yield subscription
    finally:
        await subscription.stop()


async def until_subscribed(channel: str, count: int, timeout_s: float = 15.0) -> None:
    """Wait until Redis has `count` subscribers on the channel."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        async with asyncio.timeout(timeout_s):
            for _ in itertools.count():
                if (await client.pubsub_numsub(channel))[0][1] == count:
                    return
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def eventually(condition: Callable[[], bool], timeout_s: float = 15.0, poll_s: float = 0.01) -> None:
    """Wait, yielding to the loop, until the condition holds (TimeoutError after timeout_s)."""
    async with asyncio.timeout(timeout_s):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(poll_s)
