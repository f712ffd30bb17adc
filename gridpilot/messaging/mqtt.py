"""The server's MQTT side: publish each device's schedule view (retained, QoS 1) and consume device messages.

Publishing happens in every server process (a short-lived view of who is connected does
not matter: the message is retained). Consuming happens in one place, `gridpilot worker`,
with a persistent session: while the worker is down the broker keeps the devices' QoS 1
messages for it, so an ack that reached the broker is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridpilot import observability
from gridpilot.config import Settings
from gridpilot.fleet.schemas import DeviceScheduleOut
from gridpilot.messaging.queue import DeviceMessageQueue
from gridpilot.protocol.mqtt import Channel, all_devices_topic, device_topic, encode, parse_device_topic

log = logging.getLogger("gridpilot.mqtt")
_SESSION_EXPIRY_S = 7 * 24 * 3600
_CONCURRENT_PUBLISHES = 500
_MAX_BACKOFF_S = 10.0  # the broker is our own infrastructure: come back soon after it does
_FORWARD_WINDOW = 200  # messages forwarded concurrently (their puts overlap on the queue or the database)


def broker_address(url: str) -> tuple[str, int]:
    """Host and port of an mqtt://host:port URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"GRIDPILOT_MQTT_URL must look like mqtt://host:1883, not {url!r}")
    return parts.hostname, parts.port or 1883


def _client(settings: Settings, *, identifier: str, persistent: bool) -> aiomqtt.Client:
    host, port = broker_address(settings.mqtt_url or "")
    properties = None
    if persistent:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = _SESSION_EXPIRY_S
    return aiomqtt.Client(
        host,
        port,
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not persistent,
        properties=properties,
        max_inflight_messages=_CONCURRENT_PUBLISHES,
        max_queued_outgoing_messages=0,
        timeout=10,
    )


class MqttPublisher:
    """Keeps one connection to the broker and publishes device views; reconnects by itself.

    Views it could not publish (broker away) are remembered by device, and `republish` is
    called with those devices once the connection is back, so a push is late, not lost.
    """

    def __init__(self, settings: Settings, republish: Callable[[list[str]], Awaitable[object]] | None = None) -> None:
        self._settings = settings
        self._republish = republish
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._unsent: set[str] = set()

    async def start(self) -> None:
        """Connect in the background (the server starts even while the broker is down)."""
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")

    async def stop(self) -> None:
        """Disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_connected(self, timeout_s: float) -> bool:
        """True once connected (for start-up checks and tests)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        return self._connected.is_set()

    async def publish_views(self, views: Iterable[DeviceScheduleOut]) -> list[DeviceScheduleOut]:
        """Publish each view retained with QoS 1; returns those the broker confirmed (none while disconnected)."""
        client = self._client
        if client is None:
            self._unsent.update(view.device_id for view in views)
            return []
        prefix = self._settings.mqtt_prefix
        limit = asyncio.Semaphore(_CONCURRENT_PUBLISHES)

        async def publish(view: DeviceScheduleOut) -> bool:
            async with limit:
                try:
                    await client.publish(
                        device_topic(prefix, view.device_id, Channel.SCHEDULE),
                        encode("view", view.model_dump(mode="json")),
                        qos=1,
                        retain=True,
                    )
                except aiomqtt.MqttError as exc:
                    log.warning("publishing the schedule of %s failed: %s", view.device_id, exc)
                    self._unsent.add(view.device_id)
                    return False
            return True

        views = list(views)
        results = await asyncio.gather(*(publish(view) for view in views))
        observability.MQTT_MESSAGES.labels("out", "schedule").inc(sum(results))
        return [view for view, confirmed in zip(views, results, strict=True) if confirmed]

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                async with _client(
                    self._settings, identifier=f"gridpilot-server-{os.getpid()}", persistent=False
                ) as client:
                    self._client, delay = client, 1.0
                    self._connected.set()
                    log.info("connected to the MQTT broker at %s", self._settings.mqtt_url)
                    if self._unsent and self._republish is not None:
                        unsent, self._unsent = sorted(self._unsent), set()
                        log.info("publishing the schedules of %s devices held while the broker was away", len(unsent))
                        await self._republish(unsent)
                    async for _ in client.messages:  # subscribed to nothing: this only notices a lost connection
                        pass
            except aiomqtt.MqttError as exc:
                log.warning("MQTT broker unreachable (%s); retrying in %.0f s", exc, delay)
            finally:
                self._client = None
                self._connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)


class MqttConsumer:
    """Takes acks, telemetry and status from every device's topics and hands each to the device-message queue."""

    def __init__(self, settings: Settings, queue: DeviceMessageQueue) -> None:
        self._settings = settings
        self._queue = queue
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Consume until cancelled, reconnecting with backoff; the persistent session keeps messages meanwhile."""
        delay = 1.0
        while True:
            try:
                client = _client(self._settings, identifier=self._settings.mqtt_client_id, persistent=True)
                # Acknowledge each message to the broker only once it is durable in the queue (or stored):
                # a worker killed in between gets it again from its persistent session. aiomqtt has no
                # switch for this; its paho client does.
                client._client.manual_ack_set(True)
                async with client:
                    for channel in (Channel.ACKS, Channel.TELEMETRY, Channel.STATUS):
                        await client.subscribe(all_devices_topic(self._settings.mqtt_prefix, channel), qos=1)
                    self.ready.set()
                    delay = 1.0
                    log.info("consuming device messages from %s", self._settings.mqtt_url)
                    await self._consume(client)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT broker unreachable (%s); retrying in %.0f s", exc, delay)
            self.ready.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)

    async def _consume(self, client: aiomqtt.Client) -> None:
        """Forward up to _FORWARD_WINDOW messages at once; acknowledge them to the broker in arrival order.

        MQTT wants QoS 1 acknowledgements in the order the messages came, and a message is
        acknowledged only once it is durable, so a slow one holds back the acks behind it,
        not the work. A failure ends the connection: the broker redelivers what was not acked.
        """
        window: asyncio.Queue[tuple[aiomqtt.Message, asyncio.Task[None]]] = asyncio.Queue(_FORWARD_WINDOW)

        async def read() -> None:
            async for message in client.messages:
                task = asyncio.create_task(self._forward(str(message.topic), _payload(message.payload)))
                await window.put((message, task))

        async def acknowledge() -> None:
            while True:
                message, task = await window.get()
                await task
                client._client.ack(message.mid, message.qos)

        workers = {asyncio.create_task(read()), asyncio.create_task(acknowledge())}
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in workers:
                task.cancel()
            while not window.empty():
                window.get_nowait()[1].cancel()

    async def _forward(self, topic: str, payload: bytes) -> None:
        parsed = parse_device_topic(self._settings.mqtt_prefix, topic)
        if parsed is None:
            return
        device_id, channel = parsed
        await self._queue.put(device_id, channel, payload)


def _payload(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return str(payload).encode()


async def run_until(stop: Awaitable[object], work: Awaitable[None]) -> None:
    """Run `work` until `stop` completes (a signal), then cancel it."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop)
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
