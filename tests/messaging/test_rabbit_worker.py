"""`gridpilot worker` as a real process on RabbitMQ: SIGKILL in the middle of a batch loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gridpilot.config import Settings
from tests.agent.processes import Process
from tests.conftest import Api
from tests.messaging.rabbit import Fleet, delete_topology, depths, fleet, put_all, stored, until, with_rabbit

DEVICES = 10
PER_DEVICE = 500  # ack messages and telemetry messages each: 10,000 in all (putting them takes ~5 s)


@pytest.fixture
async def settings(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Settings]:
    """SQLite only: the worker process and the test share the file."""
    shutil.copy(sqlite_template, tmp_path / "gridpilot.db")
    amqp = with_rabbit(Settings(environment="test", log_json=False, data_dir=tmp_path))
    yield amqp
    await delete_topology(amqp)


def worker(settings: Settings, tmp_path: Path) -> Process:
    """`gridpilot worker --no-mqtt` on the test's database and queue."""
    env = {
        "GRIDPILOT_DATA_DIR": str(settings.data_dir),
        "GRIDPILOT_AMQP_URL": settings.amqp_url or "",
        "GRIDPILOT_AMQP_PREFIX": settings.amqp_prefix,
        "GRIDPILOT_LOG_JSON": "false",
        "GRIDPILOT_DEVICE_CONTACT_WRITE_EVERY_S": "0",
    }
    return Process("worker", ["worker", "--no-mqtt"], tmp_path / "worker.log", env)


async def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    devices: Fleet = await fleet(api, DEVICES)
    messages = [m for d in devices.intervals for m in devices.acks(d, PER_DEVICE) + devices.telemetry(d, PER_DEVICE)]
    await put_all(settings, messages)
    factory = api.app.state.session_factory
    process = worker(settings, tmp_path).start()
    try:
        await until("the worker half-way", lambda: _between(factory, 0.2, 0.8), timeout_s=30)
        process.kill()  # SIGKILL: whatever batch it held is neither committed-and-acked nor lost
        at_kill = await stored(factory)
        assert at_kill != (DEVICES * PER_DEVICE, DEVICES * PER_DEVICE), "the worker finished before it was killed"
        process.start()
        await until("everything stored", lambda: _all_stored(factory), timeout_s=40)
        await until("the queue drained", lambda: _drained(settings))
        assert process.stop() == 0
    finally:
        process.kill()
    assert await stored(factory) == (DEVICES * PER_DEVICE, DEVICES * PER_DEVICE)
    assert await depths(settings) == (0, 0)  # after the worker's exit nothing unacked came back either
    assert "consuming device messages" in process.log()
    assert process.popen is not None and process.popen.returncode != -signal.SIGKILL


async def _between(factory: object, low: float, high: float) -> bool:
    executions, points = await stored(factory)  # type: ignore[arg-type]
    total = 2 * DEVICES * PER_DEVICE
    return low * total <= executions + points <= high * total


async def _all_stored(factory: object) -> bool:
    return await stored(factory) == (DEVICES * PER_DEVICE, DEVICES * PER_DEVICE)  # type: ignore[arg-type]


async def _drained(settings: Settings) -> bool:
    await asyncio.sleep(0.2)
    return await depths(settings) == (0, 0)
