"""Helpers for tests on the real RabbitMQ: a prefix of the test's own, a consumer task, bulk puts, a small fleet."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.config import Settings
from gridpilot.fleet.models import Execution
from gridpilot.live.bus import LiveBus
from gridpilot.messaging import rabbit
from gridpilot.messaging.batches import BatchConsumer
from gridpilot.messaging.handlers import DeviceMessage
from gridpilot.protocol.mqtt import Channel, encode
from gridpilot.telemetry.models import TelemetryPoint
from tests.conftest import Api
from tests.fleet.factories import ack, schedule

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def with_rabbit(settings: Settings, **overrides: object) -> Settings:
    """The test's settings with RabbitMQ under a prefix nobody else uses."""
    prefix = f"gridpilot-test-{uuid.uuid4().hex[:10]}"
    return settings.model_copy(
        update={"amqp_url": AMQP_URL, "amqp_prefix": prefix, "worker_batch_wait_ms": 50, **overrides}
    )


async def delete_topology(settings: Settings) -> None:
    """Remove the test's queues and exchange."""
    connection = await rabbit.connect(settings)
    async with connection:
        await rabbit.delete(await connection.channel(), rabbit.Names.of(settings.amqp_prefix))


async def depths(settings: Settings) -> tuple[int, int]:
    """(ready messages in the main queue, in the DLQ)."""
    connection = await rabbit.connect(settings)
    async with connection:
        return await rabbit.depths(await connection.channel(), rabbit.Names.of(settings.amqp_prefix))


@contextlib.asynccontextmanager
async def consuming(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], bus: LiveBus | None = None
) -> AsyncIterator[BatchConsumer]:
    """A batch consumer running in this process until the block ends (publishing live events to `bus`)."""
    consumer = BatchConsumer(settings, session_factory, bus=bus)
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.ready.wait(), 10)
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def put_all(
    settings: Settings, messages: list[tuple[str, Channel, bytes]], concurrency: int = 200, *, bundled: bool = False
) -> None:
    """Put messages on the queue, many in flight at once (each confirmed), or in one bundle as MQTT's consumer does."""
    queue = await rabbit.RabbitQueue.open(settings)
    if bundled:
        try:
            await queue.put_many([DeviceMessage(*m) for m in messages])
        finally:
            await queue.close()
        return
    limit = asyncio.Semaphore(concurrency)

    async def put(device_id: str, channel: Channel, payload: bytes) -> None:
        async with limit:
            await queue.put(device_id, channel, payload)

    try:
        await asyncio.gather(*(put(*m) for m in messages))
    finally:
        await queue.close()


async def until(what: str, probe: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    """Poll an async probe until it is true."""
    deadline = time.monotonic() + timeout_s
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def stored(session_factory: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """(execution rows, telemetry rows) in the database."""
    async with session_factory() as session:
        executions = await session.scalar(select(func.count()).select_from(Execution))
        points = await session.scalar(select(func.count()).select_from(TelemetryPoint))
    return int(executions or 0), int(points or 0)


@dataclass
class Fleet:
    """Registered devices and the interval ids their acks may refer to."""

    intervals: dict[str, list[int]]

    def acks(self, device_id: str, count: int) -> list[tuple[str, Channel, bytes]]:
        """`count` ack messages of one ack each."""
        ids = self.intervals[device_id]
        return [(device_id, Channel.ACKS, encode("acks", [ack(ids[i % len(ids)])])) for i in range(count)]

    @staticmethod
    def telemetry(device_id: str, count: int, per_message: int = 1) -> list[tuple[str, Channel, bytes]]:
        """`count` telemetry messages with distinct points."""
        return [
            (
                device_id,
                Channel.TELEMETRY,
                encode("telemetry", [point(i * per_message + j) for j in range(per_message)]),
            )
            for i in range(count)
        ]


def point(second: int) -> dict[str, object]:
    """A telemetry point `second` seconds after START."""
    return {"at": (START + timedelta(seconds=second)).isoformat(), "soc_pct": 50.0, "power_kw": 1.0, "state": "idle"}


async def fleet(api: Api, count: int) -> Fleet:
    """Register `count` devices, each with a schedule of four intervals."""
    intervals: dict[str, list[int]] = {}
    for n in range(count):
        device_id = f"bat-{n}"
        _, credential = await api.register_device(device_id)
        response = await api.client.post("/api/v1/schedules", json=schedule(device_id), headers=api.admin)
        assert response.status_code == 201, response.text
        view = (await api.client.get(f"/api/v1/devices/{device_id}/schedule", headers=credential)).json()
        intervals[device_id] = [i["id"] for i in view["intervals"]]
    return Fleet(intervals)
