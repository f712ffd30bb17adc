"""The buffered paho client on a real Mosquitto: a backlog read a buffer at a time arrives whole and in order."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridpilot.messaging import buffered_paho
from gridpilot.messaging.buffered_paho import BufferedClient
from tests.agent import processes

TOPIC = "t/buffered/devices/bat-1/acks"


def payload(n: int) -> bytes:
    """Sizes that cross buffer boundaries: mostly small, some over one read, one far over it."""
    size = 3 * buffered_paho._READ_BYTES + 7 if n == 1234 else (n * 37) % 700 + 1
    return n.to_bytes(4, "big") + bytes([n % 251]) * size


def consumer(port: int, received: list[bytes], done: threading.Event, total: int) -> BufferedClient:
    """A persistent-session subscriber that acknowledges each message as it handles it, like the worker."""
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="buffered-test", protocol=paho.MQTTv5)
    client.manual_ack_set(True)

    def on_message(client: paho.Client, _data: object, message: paho.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        client.ack(message.mid, message.qos)
        if len(received) >= total:
            done.set()

    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 5000
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    return client


def test_a_backlog_of_several_thousand_messages_arrives_whole_and_in_order(tmp_path: Path) -> None:
    port = processes.free_port()
    broker = processes.mosquitto(tmp_path, port).start()
    total = 3000
    received: list[bytes] = []
    done = threading.Event()
    try:
        processes.wait_listening(port)
        subscriber = consumer(port, received, done, total)
        subscriber.subscribe(TOPIC, qos=1)
        subscriber.loop(timeout=1.0)
        subscriber.disconnect()  # the broker keeps what follows in the session: one backlog, sent in bulk

        publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="buffered-load", protocol=paho.MQTTv5)
        publisher.max_inflight_messages_set(200)
        publisher.connect("127.0.0.1", port)
        publisher.loop_start()
        infos = [publisher.publish(TOPIC, payload(n), qos=1) for n in range(total)]
        for info in infos:
            info.wait_for_publish(timeout=30)
        publisher.disconnect()
        publisher.loop_stop()

        subscriber = consumer(port, received, done, total)
        subscriber.loop_start()
        done.wait(timeout=60)
        subscriber.disconnect()
        subscriber.loop_stop()
    finally:
        broker.kill()
    assert len(received) == total
    assert [int.from_bytes(p[:4], "big") for p in received] == list(range(total))
    assert all(p == payload(n) for n, p in enumerate(received))
