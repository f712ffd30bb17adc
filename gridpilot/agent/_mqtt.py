"""The agent's MQTT link: its schedule pushed the moment it changes, acks and telemetry out, a last will.

The link is optional and never load-bearing: while the broker is unreachable the agent
polls over HTTP at its normal rate and sends records over HTTP; when the broker is back,
pushes resume and polling slows to a safety net. Views go through the same inbox as polls.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from gridpilot.agent._transport import TransportError
from gridpilot.protocol.mqtt import Channel, EnvelopeError, decode, device_topic, encode

log = logging.getLogger("gridpilot.agent")
_RECONNECT_MAX_S = 30.0


class MqttLink:
    """One device's connection to the broker, reconnecting with backoff and jitter."""

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        device_id: str,
        credential: str,
        on_view: Callable[[dict[str, Any]], None],
        now: Callable[[], datetime],
        backoff_initial_s: float,
        backoff_max_s: float,
    ) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "", parts.port or 1883
        self._prefix, self._device_id, self._credential = prefix, device_id, credential
        self._on_view, self._now = on_view, now
        # The HTTP backoff may reach minutes; a push link should be back soon after the broker is. Full jitter
        # still spreads a fleet's reconnections over this window.
        self._backoff = (backoff_initial_s, min(backoff_max_s, _RECONNECT_MAX_S))
        self._client: aiomqtt.Client | None = None
        self._random = random.Random()  # noqa: S311 - jitter, not security

    @property
    def connected(self) -> bool:
        """True while connected and subscribed to the schedule."""
        return self._client is not None

    async def publish(self, channel: Channel, type_: str, data: object) -> None:
        """Publish with QoS 1 and wait for the broker's confirmation; TransportError when that is not possible."""
        client = self._client
        if client is None:
            raise TransportError("MQTT is not connected")
        try:
            await client.publish(device_topic(self._prefix, self._device_id, channel), encode(type_, data), qos=1)
        except aiomqtt.MqttError as exc:
            raise TransportError(f"MQTT publish on {channel.value}: {exc}") from exc

    async def run(self) -> None:
        """Stay connected until cancelled."""
        attempt = 0
        status = device_topic(self._prefix, self._device_id, Channel.STATUS)
        while True:
            will = aiomqtt.Will(status, encode("status", {"state": "offline"}), qos=1, retain=True)
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    username=self._device_id,
                    password=self._credential,
                    identifier=f"gridpilot-agent-{self._device_id}",
                    will=will,
                    keepalive=30,
                    timeout=10,
                ) as client:
                    await client.subscribe(device_topic(self._prefix, self._device_id, Channel.SCHEDULE), qos=1)
                    await client.publish(
                        status, encode("status", {"state": "online", "at": self._now().isoformat()}), qos=1, retain=True
                    )
                    self._client, attempt = client, 0
                    log.info("MQTT connected to %s:%s", self._host, self._port)
                    try:
                        async for message in client.messages:
                            self._receive(message.payload)
                    except asyncio.CancelledError:  # a clean stop: say so, the last will is only for deaths
                        await client.publish(status, encode("status", {"state": "offline"}), qos=1, retain=True)
                        raise
            except aiomqtt.MqttError as exc:
                log.warning("MQTT link down (%s); polling over HTTP meanwhile", exc)
            finally:
                self._client = None
            attempt += 1
            initial, maximum = self._backoff
            await asyncio.sleep(self._random.uniform(0, min(maximum, initial * 2**attempt)))

    def _receive(self, payload: object) -> None:
        try:
            envelope = decode(payload if isinstance(payload, bytes | bytearray | str) else b"")
        except EnvelopeError as exc:
            log.warning("ignoring an MQTT schedule message: %s", exc)
            return
        if envelope.type != "view" or not isinstance(envelope.data, dict):
            log.warning("ignoring an MQTT schedule message of type %r", envelope.type)
            return
        self._on_view(envelope.data)
