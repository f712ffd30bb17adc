"""Light simulated devices for bench_fleet.py --light: an MQTT client per device and nothing else.

A full agent (SQLite store, control loop, driver, HTTP fallback) costs too much CPU to run
10,000 of them on 2 cores. A light device keeps what the message path sees: its own MQTT
connection and client id, a last will, a QoS 1 subscription to its retained schedule, a
heartbeat naming the version it accepted, and one ack per interval published (QoS 1) when
the interval ends, held and re-sent until the broker confirmed it, across reconnections.
It executes nothing; there is no HTTP fallback.

Each device is a paho-mqtt client driven by the process's event loop through paho's own
hooks for an external loop (socket readable/writable, `loop_misc` for keepalives): no thread,
and no task, future or timer per message. On the 2 cores it shares with the platform, the
harness's own CPU is what the push is measured against; through aiomqtt it cost about twice as
much per device (docs/benchmarks.md).

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

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from gridpilot.heap import freeze_startup_heap
from gridpilot.protocol.mqtt import Channel, device_topic, encode

PREFIX = "gridpilot/v1"
KEEPALIVE_S = 120
RECEIPTS: list[tuple[str, int, float]] = []  # (device, version, when first received), flushed to a file each second


class LightDevice:
    """One device's MQTT session on the event loop; counters are read by the process's reporter."""

    def __init__(self, device_id: str, host: str, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.device_id, self.host, self.port, self.loop = device_id, host, port, loop
        self.connected = False
        self.versions: set[int] = set()  # a retained view delivered again on a reconnection counts once
        self.acked: set[int] = set()
        self.ack_mids: set[int] = set()  # acks paho holds (and re-sends after a reconnection) until confirmed
        self.acks_sent = 0
        self.delay = 1.0
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv5)
        client.will_set(self.topic(Channel.STATUS), encode("status", {"state": "offline"}), qos=1, retain=True)
        client.on_connect, client.on_disconnect = self.on_connect, self.on_disconnect
        client.on_message, client.on_publish = self.on_message, self.on_publish
        client.on_socket_open, client.on_socket_close = self.on_socket_open, self.on_socket_close
        client.on_socket_register_write = self.on_socket_register_write
        client.on_socket_unregister_write = self.on_socket_unregister_write
        self.client = client

    def connect(self) -> None:
        """Open the connection (the loop reads the CONNACK); on failure try again later, with jittered backoff."""
        try:
            if self.client.socket() is None and not self.connected:
                self.client.connect(self.host, self.port, keepalive=KEEPALIVE_S)
        except OSError:
            self.retry()

    def retry(self) -> None:
        self.loop.call_later(self.delay * random.uniform(0.5, 1.5), self.reconnect)
        self.delay = min(self.delay * 2, 30.0)

    def reconnect(self) -> None:
        try:
            self.client.reconnect()
        except OSError:
            self.retry()

    def on_connect(self, client: paho.Client, _data: object, _flags: object, reason: Any, _props: object) -> None:
        if reason.is_failure:
            return  # the broker closes the socket; on_disconnect schedules the next attempt
        self.connected, self.delay = True, 1.0
        client.subscribe(self.topic(Channel.SCHEDULE), qos=1)

    def on_disconnect(self, _client: paho.Client, _data: object, _flags: object, _reason: Any, _props: object) -> None:
        self.connected = False
        self.retry()

    def on_message(self, client: paho.Client, _data: object, message: paho.MQTTMessage) -> None:
        view = json.loads(message.payload)["data"]
        if view["version"] not in self.versions:
            RECEIPTS.append((self.device_id, view["version"], time.time()))
        self.versions.add(view["version"])
        heartbeat = {
            "at": datetime.now(UTC).isoformat(),
            "agent_version": "light",
            "schedule_version": view["version"],
            "driver_state": "ok",
            "outbox_depth": len(self.ack_mids),
            "outbox_acks": len(self.ack_mids),
            "outbox_telemetry": 0,
        }
        client.publish(self.topic(Channel.STATUS), encode("heartbeat", heartbeat), qos=1)
        for interval in view["intervals"]:
            if interval["id"] in self.acked:
                continue
            self.acked.add(interval["id"])
            end = datetime.fromisoformat(interval["end"]).timestamp()
            self.loop.call_later(max(0.0, end - time.time()), self.ack, interval)

    def ack(self, interval: dict[str, Any]) -> None:
        """Publish the interval's ack (QoS 1); paho keeps it, across reconnections, until the broker confirms it."""
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
        info = self.client.publish(self.topic(Channel.ACKS), encode("acks", [record]), qos=1)
        self.ack_mids.add(info.mid)

    def on_publish(self, _client: paho.Client, _data: object, mid: int, _reason: object, _props: object) -> None:
        if mid in self.ack_mids:
            self.ack_mids.discard(mid)
            self.acks_sent += 1

    def on_socket_open(self, client: paho.Client, _data: object, sock: paho.SocketLike) -> None:
        self.loop.add_reader(sock, client.loop_read)

    def on_socket_close(self, _client: paho.Client, _data: object, sock: paho.SocketLike) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)

    def on_socket_register_write(self, client: paho.Client, _data: object, sock: paho.SocketLike) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def on_socket_unregister_write(self, _client: paho.Client, _data: object, sock: paho.SocketLike) -> None:
        self.loop.remove_writer(sock)

    def topic(self, channel: Channel) -> str:
        return device_topic(PREFIX, self.device_id, channel)


async def keep_alive(devices: list[LightDevice]) -> None:
    """paho's periodic duties (pings, keepalive timeouts) for every connected device, spread over a few seconds."""
    while True:
        for n, device in enumerate(devices):
            if device.client.socket() is not None:
                device.client.loop_misc()
            if n % 500 == 499:
                await asyncio.sleep(0)
        await asyncio.sleep(5.0)


async def main(config: dict[str, Any], index: int, count: int) -> None:
    host, port = config["host"], config["port"]
    loop = asyncio.get_running_loop()
    devices = [LightDevice(d, host, port, loop) for d in sorted(config["credentials"])[index::count]]
    for n, device in enumerate(devices):  # a ramp: a connection storm of thousands makes the broker refuse some
        device.connect()
        if n % 50 == 49:
            await asyncio.sleep(0.05)
    keeper = asyncio.create_task(keep_alive(devices))
    receipts = Path(config["data_dir"]) / f"receipts-{index}.jsonl"
    receipts.parent.mkdir(parents=True, exist_ok=True)
    frozen = False
    while not keeper.done():
        if not frozen and all(device.connected for device in devices):
            freeze_startup_heap()  # thousands of sessions' objects, walked by every full collection otherwise
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
            "acks_held": sum(len(d.ack_mids) for d in devices),
        }
        print(json.dumps(totals), flush=True)
        await asyncio.sleep(1.0)
    keeper.result()


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), int(sys.argv[2]), int(sys.argv[3])))
