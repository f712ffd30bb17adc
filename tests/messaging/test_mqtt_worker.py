"""`gridpilot worker` on MQTT, killed mid-stream: the broker redelivers what the worker had not made durable."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

from gridpilot.protocol.mqtt import Channel, device_topic, encode
from tests.agent import processes
from tests.agent.processes import wait_for

DEVICE = "bat-mq-1"
POINTS = 3000


def stored(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "server" / "gridpilot.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM telemetry_points").fetchone()[0])


async def publish_points(port: int) -> None:
    """One telemetry point per message, each with its own time, as fast as the broker takes them."""
    start = datetime.now(UTC) - timedelta(hours=2)
    async with aiomqtt.Client("127.0.0.1", port, identifier="load", max_inflight_messages=200) as client:
        topic = device_topic("gridpilot/v1", DEVICE, Channel.TELEMETRY)
        for n in range(POINTS):
            point = {
                "at": (start + timedelta(seconds=n)).isoformat(),
                "soc_pct": 50.0,
                "power_kw": 1.0,
                "state": "charging",
            }
            await client.publish(topic, encode("telemetry", [point]), qos=1)


def test_a_worker_killed_mid_stream_loses_nothing(tmp_path: Path) -> None:
    port = processes.free_port()
    broker = processes.mosquitto(tmp_path, port).start()
    processes.wait_listening(port)
    mqtt = {"GRIDPILOT_MQTT_URL": f"mqtt://127.0.0.1:{port}"}
    server = processes.server(tmp_path, **mqtt).start()
    worker = processes.worker(tmp_path, **mqtt).start()
    try:
        server.register(DEVICE)
        wait_for("the worker's subscription", lambda: "consuming device messages" in worker.log())
        asyncio.run(publish_points(port))
        wait_for("some points stored", lambda: stored(tmp_path) > POINTS // 10, every_s=0.02)
        worker.kill()
        at_kill = stored(tmp_path)
        time.sleep(1)
        assert at_kill < POINTS, "the worker finished before it could be killed; the test proves nothing"
        worker.start()
        wait_for(f"all {POINTS} points", lambda: stored(tmp_path) == POINTS, timeout_s=60)
    finally:
        for process in (worker, server.process, broker):
            process.kill()
