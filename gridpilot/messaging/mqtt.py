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
import math
import os
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gridpilot import observability
from gridpilot.config import Settings
from gridpilot.fleet.schemas import DeviceScheduleOut
from gridpilot.messaging.buffered_paho import BufferedClient
from gridpilot.messaging.handlers import DeviceMessage
from gridpilot.messaging.queue import DeviceMessageQueue
from gridpilot.protocol.mqtt import Channel, all_devices_topic, device_topic, encode, parse_device_topic

log = logging.getLogger("gridpilot.mqtt")
_client_log = logging.getLogger("gridpilot.mqtt.client")
_client_log.setLevel(logging.ERROR)  # aiomqtt warns of each publish past 10 in flight; more is our design
_SESSION_EXPIRY_S = 7 * 24 * 3600
_CONCURRENT_PUBLISHES = 50  # aiomqtt's and paho's bookkeeping per publish grows with those in flight: 500 was slower
_STALLED_S = 10.0  # a push with no confirmation from the broker for this long gives up on the rest
_MAX_BACKOFF_S = 10.0  # the broker is our own infrastructure: come back soon after it does
_BUNDLE_MAX = 1000  # device messages handed to the queue at once
_BUNDLES_IN_FLIGHT = 4  # bundles on their way to the queue while the next is read
_RECEIVE_MAXIMUM = _BUNDLE_MAX * (_BUNDLES_IN_FLIGHT + 1)  # unacked messages the broker may send us


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
        logger=_client_log,
    )


class MqttPublisher:
    """Keeps one connection to the broker and publishes device views; reconnects by itself.

    `republish` is called on every connection: it publishes whatever the database says the
    broker never confirmed (a push cut by an outage or a restart), so a push is late, not lost.
    """

    def __init__(
        self,
        settings: Settings,
        republish: Callable[[], Awaitable[object]] | None = None,
        stalled_s: float = _STALLED_S,
    ) -> None:
        self._settings = settings
        self._republish = republish
        self._stalled_s = stalled_s
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

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
        """Publish each view retained with QoS 1; returns those the broker confirmed (none while disconnected).

        _CONCURRENT_PUBLISHES lanes each publish one view after another, so a push of 10,000 costs
        a few tasks rather than a task and a timer per view; the push gives up on what is still
        unconfirmed once the broker has confirmed nothing for `stalled_s` (a connection lost meanwhile).
        """
        client = self._client
        views = list(views)
        if client is None or not views:
            return []
        prefix = self._settings.mqtt_prefix
        confirmed = [False] * len(views)
        queue = iter(enumerate(views))
        failures: list[str] = []

        async def lane(deadline: asyncio.Timeout) -> None:
            for index, view in queue:
                topic = device_topic(prefix, view.device_id, Channel.SCHEDULE)
                try:
                    await client.publish(
                        topic, encode("view", view.model_dump(mode="json")), qos=1, retain=True, timeout=math.inf
                    )
                except aiomqtt.MqttError as exc:
                    failures.append(f"{view.device_id}: {exc}")
                    continue
                confirmed[index] = True
                deadline.reschedule(asyncio.get_running_loop().time() + self._stalled_s)

        try:
            async with asyncio.timeout(self._stalled_s) as deadline:
                await asyncio.gather(*(lane(deadline) for _ in range(min(_CONCURRENT_PUBLISHES, len(views)))))
        except TimeoutError:
            failures.append(f"no confirmation from the broker for {self._stalled_s:g} s")
        if failures:
            log.warning("publishing %s schedule(s) failed, e.g. %s", len(views) - sum(confirmed), failures[0])
        observability.MQTT_MESSAGES.labels("out", "schedule").inc(sum(confirmed))
        return [view for view, ok in zip(views, confirmed, strict=True) if ok]

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
                    if self._republish is not None:
                        try:
                            await self._republish()
                        except Exception:  # the database away: the next connection tries again
                            log.exception("publishing the schedules the broker has not confirmed failed")
                    async for _ in client.messages:  # subscribed to nothing: this only notices a lost connection
                        pass
            except aiomqtt.MqttError as exc:
                log.warning("MQTT broker unreachable (%s); retrying in %.0f s", exc, delay)
            finally:
                self._client = None
                self._connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)


@dataclass(frozen=True, slots=True)
class _Received:
    """A message as paho's network thread received it, with the connection it came on (for its broker ack)."""

    connection: int
    topic: str
    payload: bytes
    mid: int
    qos: int


class _Inbox:
    """Hands messages from paho's network thread to the event loop, which takes all that wait in one go."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[_Received] = []
        self._waiting = asyncio.Event()

    def add(self, item: _Received) -> None:
        """From the network thread; wakes the loop only when the inbox was empty (one wake-up per read)."""
        with self._lock:
            self._items.append(item)
            first = len(self._items) == 1
        if first:
            self._loop.call_soon_threadsafe(self._waiting.set)

    async def take(self, limit: int) -> list[_Received]:
        """Up to `limit` messages, in arrival order, waiting for the first."""
        while True:
            with self._lock:
                taken, self._items = self._items[:limit], self._items[limit:]
                if not self._items:
                    self._waiting.clear()
            if taken:
                return taken
            await self._waiting.wait()


class MqttConsumer:
    """Takes acks, telemetry and status from every device's topics and hands them to the device-message queue.

    paho-mqtt's network loop runs in its own thread and this side takes whatever arrived
    since the last read as one bundle (`put_many`): under load, bundles grow and the cost of
    the queue or the transaction is paid once per bundle. Going through aiomqtt's
    per-message asyncio plumbing instead read 4× fewer messages per second (docs/benchmarks.md).
    Each message is acknowledged to the broker only once its bundle is durable, in arrival
    order; the persistent session keeps the rest for us while we are down.
    """

    def __init__(self, settings: Settings, queue: DeviceMessageQueue) -> None:
        self._settings = settings
        self._queue = queue
        self._connection = 0  # counts connections: an ack is only valid on the connection its message came on
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Consume until cancelled; paho reconnects by itself with backoff."""
        loop = asyncio.get_running_loop()
        inbox = _Inbox(loop)
        client = self._paho_client(loop, inbox)
        host, port = broker_address(self._settings.mqtt_url or "")
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = _SESSION_EXPIRY_S
        properties.ReceiveMaximum = _RECEIVE_MAXIMUM
        client.connect_async(host, port, clean_start=False, properties=properties)
        client.loop_start()
        try:
            await self._forward(client, inbox)
        finally:
            self.ready.clear()
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def _paho_client(self, loop: asyncio.AbstractEventLoop, inbox: _Inbox) -> paho.Client:
        settings = self._settings
        client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=settings.mqtt_client_id, protocol=paho.MQTTv5)
        client.manual_ack_set(True)
        client.reconnect_delay_set(1, int(_MAX_BACKOFF_S))
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            client.username_pw_set(settings.mqtt_username, password)
        topics = [
            (all_devices_topic(settings.mqtt_prefix, channel), SubscribeOptions(qos=1))
            for channel in (Channel.ACKS, Channel.TELEMETRY, Channel.STATUS)
        ]

        def on_connect(client: paho.Client, _data: object, _flags: object, reason: ReasonCode, _props: object) -> None:
            if reason.is_failure:
                log.warning("the MQTT broker refused the connection: %s", reason)
                return
            self._connection += 1
            client.subscribe(topics)

        def on_subscribe(*_: object) -> None:
            log.info("consuming device messages from %s", settings.mqtt_url)
            loop.call_soon_threadsafe(self.ready.set)

        def on_disconnect(_client: paho.Client, _data: object, _flags: object, reason: ReasonCode, _p: object) -> None:
            if reason.is_failure:  # a normal disconnection is our own stop
                log.warning("MQTT connection lost (%s); paho reconnects with backoff", reason)
            loop.call_soon_threadsafe(self.ready.clear)

        def on_message(_client: paho.Client, _data: object, message: paho.MQTTMessage) -> None:
            inbox.add(_Received(self._connection, message.topic, _payload(message.payload), message.mid, message.qos))

        client.on_connect, client.on_subscribe = on_connect, on_subscribe
        client.on_disconnect, client.on_message = on_disconnect, on_message
        return client

    async def _forward(self, client: paho.Client, inbox: _Inbox) -> None:
        """Forward bundles, up to _BUNDLES_IN_FLIGHT at once; acknowledge to the broker in arrival order."""
        in_flight: asyncio.Queue[tuple[list[_Received], asyncio.Task[None]]] = asyncio.Queue(_BUNDLES_IN_FLIGHT)

        async def read() -> None:
            while True:
                received = await inbox.take(_BUNDLE_MAX)
                messages = [m for m in map(self._device_message, received) if m is not None]
                await in_flight.put((received, asyncio.create_task(self._put(messages))))

        async def acknowledge() -> None:
            while True:
                received, task = await in_flight.get()
                await task
                for item in received:
                    if item.connection == self._connection:  # else the broker redelivers it on the new connection
                        client.ack(item.mid, item.qos)

        workers = {asyncio.create_task(read()), asyncio.create_task(acknowledge())}
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in workers:
                task.cancel()
            while not in_flight.empty():
                in_flight.get_nowait()[1].cancel()

    async def _put(self, messages: list[DeviceMessage]) -> None:
        """Until the queue took them: a queue away (RabbitMQ restarting) is waited out, the messages held."""
        delay = 0.5
        while messages:
            try:
                await self._queue.put_many(messages)
                return
            except Exception as exc:  # noqa: BLE001 - nothing is acked to the broker meanwhile: nothing is lost
                log.error("handing %s messages to the queue failed (%s); retrying in %.1f s", len(messages), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)

    def _device_message(self, received: _Received) -> DeviceMessage | None:
        parsed = parse_device_topic(self._settings.mqtt_prefix, received.topic)
        return DeviceMessage(parsed[0], parsed[1], received.payload) if parsed is not None else None


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
