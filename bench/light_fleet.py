"""Light simulated devices for bench_fleet.py --light: an MQTT client per device and nothing else.

A full agent (SQLite store, control loop, driver, HTTP fallback) costs too much CPU to run
10,000 of them on 2 cores. A light device keeps what the message path sees: its own MQTT
connection and client id, a last will, a QoS 1 subscription to its retained schedule, a
heartbeat naming the version it accepted, and one ack per interval published (QoS 1) when
the interval ends, held and re-sent until the broker confirmed it, across reconnections.
It executes nothing; there is no HTTP fallback.

Run by bench_fleet.py: `python bench/light_fleet.py CONFIG.json INDEX COUNT` handles the
devices INDEX, INDEX+COUNT, ... of the config and prints one JSON line of totals a second
with the same keys as the agents' fleet (mqtt_connected, schedules_received, acks_sent);
when each device first received each schedule version goes to receipts-INDEX.jsonl in the
config's data_dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from gridpilot.heap import freeze_startup_heap
from gridpilot.protocol.mqtt import Channel, device_topic, encode

PREFIX = "gridpilot/v1"
RECEIPTS: list[tuple[str, int, float]] = []  # (device, version, when first received), flushed to a file each second


class LightDevice:
    """One device's MQTT session; counters are read by the process's reporter."""

    def __init__(self, device_id: str, host: str, port: int) -> None:
        self.device_id, self.host, self.port = device_id, host, port
        self.connected = False
        self.versions: set[int] = set()  # a retained view delivered again on a reconnection counts once
        self.acks_sent = 0
        self.acked: set[int] = set()
        self.unsent: list[bytes] = []  # acks not yet confirmed by the broker, in order
        self.client: aiomqtt.Client | None = None
        self.wake = asyncio.Event()

    async def run(self) -> None:
        """Connect, subscribe, answer; reconnect with jittered backoff whenever the broker goes away."""
        delay = 1.0
        will = aiomqtt.Will(self.topic(Channel.STATUS), encode("status", {"state": "offline"}), qos=1, retain=True)
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.device_id,
                    protocol=aiomqtt.ProtocolVersion.V5,
                    will=will,
                    keepalive=120,
                    timeout=30,
                ) as client:
                    self.client, delay = client, 1.0
                    await client.subscribe(self.topic(Channel.SCHEDULE), qos=1)
                    self.connected = True
                    self.wake.set()
                    async for message in client.messages:
                        await self.on_view(client, message.payload)
            except aiomqtt.MqttError:
                pass
            finally:
                self.connected, self.client = False, None
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 30.0)

    async def on_view(self, client: aiomqtt.Client, payload: Any) -> None:
        view = json.loads(payload)["data"]
        if view["version"] not in self.versions:
            RECEIPTS.append((self.device_id, view["version"], time.time()))
        self.versions.add(view["version"])
        heartbeat = {
            "at": datetime.now(UTC).isoformat(),
            "agent_version": "light",
            "schedule_version": view["version"],
            "driver_state": "ok",
            "outbox_depth": len(self.unsent),
            "outbox_acks": len(self.unsent),
            "outbox_telemetry": 0,
        }
        await client.publish(self.topic(Channel.STATUS), encode("heartbeat", heartbeat), qos=1)
        loop = asyncio.get_running_loop()
        for interval in view["intervals"]:
            if interval["id"] in self.acked:
                continue
            self.acked.add(interval["id"])
            end = datetime.fromisoformat(interval["end"]).timestamp()
            loop.call_later(max(0.0, end - time.time()), self.ack, interval)

    def ack(self, interval: dict[str, Any]) -> None:
        record = {
            "ack_id": str(uuid.uuid4()),
            "interval_id": interval["id"],
            "status": "executed",
            "started_at": interval["start"],
            "ended_at": interval["end"],
            "energy_kwh": 0.0,
            "soc_pct": 50.0,
            "message": "light device",
        }
        self.unsent.append(encode("acks", [record]))
        self.wake.set()

    async def send_acks(self) -> None:
        """Publish held acks in order while connected; an ack leaves the hold only once the broker confirmed it."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.unsent and self.client is not None:
                try:
                    await self.client.publish(self.topic(Channel.ACKS), self.unsent[0], qos=1, timeout=30)
                except aiomqtt.MqttError:
                    break
                self.unsent.pop(0)
                self.acks_sent += 1

    def topic(self, channel: Channel) -> str:
        return device_topic(PREFIX, self.device_id, channel)


async def main(config: dict[str, Any], index: int, count: int) -> None:
    host, port = config["host"], config["port"]
    devices = [LightDevice(d, host, port) for d in sorted(config["credentials"])[index::count]]
    tasks = []
    for n, device in enumerate(devices):  # a ramp: a connection storm of thousands makes the broker refuse some
        tasks += [asyncio.create_task(device.run()), asyncio.create_task(device.send_acks())]
        if n % 50 == 49:
            await asyncio.sleep(0.05)
    receipts = Path(config["data_dir"]) / f"receipts-{index}.jsonl"
    receipts.parent.mkdir(parents=True, exist_ok=True)
    frozen = False
    while True:
        if not frozen and all(device.connected for device in devices):
            freeze_startup_heap()  # 2,500 sessions' objects: a third of the CPU went to collecting them again
            frozen = True
        if RECEIPTS:
            with receipts.open("a") as out:
                out.writelines(json.dumps(r) + "\n" for r in RECEIPTS)
            RECEIPTS.clear()
        totals = {
            "t": time.time(),
            "mqtt_connected": sum(d.connected for d in devices),
            "schedules_received": sum(len(d.versions) for d in devices),
            "acks_sent": sum(d.acks_sent for d in devices),
            "acks_held": sum(len(d.unsent) for d in devices),
        }
        print(json.dumps(totals), flush=True)
        await asyncio.sleep(1.0)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), int(sys.argv[2]), int(sys.argv[3])))
