"""The agent: one device's daemon. Four loops around one local store.

- control: runs the controller's step on time (wakes at interval boundaries, else every tick);
- schedule: polls the cloud with If-None-Match, backing off with jitter when it is away;
- uplink: drains the outbox at least once, in order;
- heartbeat: tells the cloud what the agent is doing and what it is holding.

Execution never waits on the network: the control loop reads only the local store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from gridpilot import __version__
from gridpilot.agent._controller import Controller
from gridpilot.agent._inbox import receive_view
from gridpilot.agent._mqtt import MqttLink
from gridpilot.agent._store import Store
from gridpilot.agent._transport import CloudClient, RecordsRefused, TransportError
from gridpilot.agent._uplink import Uplink
from gridpilot.agent.clock import Clock, SystemClock
from gridpilot.agent.config import AgentConfig
from gridpilot.agent.drivers import build_driver
from gridpilot.agent.drivers.base import Driver
from gridpilot.protocol.mqtt import Channel
from gridpilot.protocol.validation import SchedulePolicy

log = logging.getLogger("gridpilot.agent")
_PURGE_AFTER = timedelta(days=7)


class Agent:
    """Runs one device until stopped. Driver, cloud client and clock are injectable."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        driver: Driver | None = None,
        client: CloudClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._config = config
        self._clock = clock or SystemClock()
        self._driver = driver or build_driver(config, now=self._clock.now)
        self._client = client or CloudClient(
            server_url=config.server_url,
            device_id=config.device_id,
            credential=config.credential,
            timeout_s=config.request_timeout_s,
        )
        self._store = Store(config.store_path, durable=config.durable_store)
        self.views_accepted = 0
        self._controller = Controller(config=config, store=self._store, driver=self._driver)
        self._mqtt = (
            MqttLink(
                url=config.mqtt_url,
                prefix=config.mqtt_prefix,
                device_id=config.device_id,
                credential=config.credential,
                on_view=lambda view: self._receive(view, etag=None),
                now=self._clock.now,
                backoff_initial_s=config.backoff_initial_s,
                backoff_max_s=config.backoff_max_s,
            )
            if config.mqtt_url
            else None
        )
        self._uplink = Uplink(store=self._store, client=self._client, mqtt=self._mqtt, batch=config.upload_batch)
        self._policy = SchedulePolicy()
        self._wake_control = asyncio.Event()
        self._wake_uplink = asyncio.Event()
        self._wake_heartbeat = asyncio.Event()
        self._random = random.Random()  # noqa: S311 - jitter, not security
        self._purge_at = self._clock.now()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until `stop` is set, then leave the battery idle and the store consistent."""
        self._controller.recover(self._clock.now())
        log.info(
            "agent started: device %s, schedule version %s, %s open intervals, %s records in the outbox",
            self._config.device_id,
            self._store.meta("schedule_version"),
            len(self._store.open_intervals()),
            self._store.outbox_stats().depth,
        )
        tasks = [
            asyncio.create_task(self._control(), name="control"),
            asyncio.create_task(self._schedule(), name="schedule"),
            asyncio.create_task(self._upload(), name="upload"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
        ]
        if self._mqtt is not None:
            tasks.append(asyncio.create_task(self._mqtt.run(), name="mqtt"))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in [*tasks, stopper]:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            for task in done - {stopper}:
                task.result()  # a loop that died on its own is a bug: surface it
        finally:
            await self._controller.stop(self._clock.now())
            await self._client.aclose()
            self._store.close()

    async def _control(self) -> None:
        while True:
            now = self._clock.now()
            wake_at = await self._controller.step(now)
            self._wake_uplink.set()
            self._wake_control.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_control.wait(), (wake_at - self._clock.now()).total_seconds())
            if now >= self._purge_at:
                self._store.purge_finished(now - _PURGE_AFTER)
                self._purge_at = now + timedelta(hours=1)

    async def _schedule(self) -> None:
        """Poll: at poll_interval_s, or only as a safety net (mqtt_poll_interval_s) while MQTT pushes work."""
        while True:
            await self._retrying(self._poll_once, "schedule poll")
            polled_at = self._clock.now()
            while True:
                pushed = self._mqtt is not None and self._mqtt.connected
                interval = self._config.mqtt_poll_interval_s if pushed else self._config.poll_interval_s
                due = (interval * self._random.uniform(0.9, 1.1)) - (self._clock.now() - polled_at).total_seconds()
                if due <= 0:
                    break
                await self._clock.sleep(min(due, self._config.control_tick_s))

    async def _poll_once(self) -> None:
        etag = self._store.meta("etag") or None
        try:
            fetched = await self._client.fetch_schedule(etag)
        except RecordsRefused as exc:
            log.error("the cloud refused the schedule request: %s", exc)
            return
        if fetched.body is not None:
            self._receive(fetched.body, etag=fetched.etag)

    def _receive(self, view: dict[str, Any], *, etag: str | None) -> None:
        """Every view, polled or pushed, takes this one path."""
        accepted = receive_view(
            view,
            etag=etag,
            store=self._store,
            device_id=self._config.device_id,
            now=self._clock.now(),
            limits=self._config.limits,
            policy=self._policy,
        )
        (self._wake_control if accepted else self._wake_uplink).set()
        if accepted:
            self.views_accepted += 1
            self._wake_heartbeat.set()

    async def _upload(self) -> None:
        while True:
            sent = await self._retrying(lambda: self._uplink.drain_round(self._clock.now()), "upload")
            if not sent:
                self._wake_uplink.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_uplink.wait(), self._config.control_tick_s)

    async def _heartbeat(self) -> None:
        """Every heartbeat_interval_s, and at once when a new schedule is in force (it confirms the delivery).

        Over MQTT (the status topic) while the link is up, else over HTTP.
        """
        while True:
            self._wake_heartbeat.clear()
            with contextlib.suppress(TransportError, RecordsRefused):
                if self._mqtt is not None and self._mqtt.connected:
                    await self._mqtt.publish(Channel.STATUS, "heartbeat", self.heartbeat())
                else:
                    await self._client.post_heartbeat(self.heartbeat())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_heartbeat.wait(), self._config.heartbeat_interval_s)

    @property
    def sent(self) -> dict[str, int]:
        """Records delivered to the cloud since start, by kind (for the fleet simulator's progress)."""
        return dict(self._uplink.sent)

    @property
    def mqtt_connected(self) -> bool:
        """True while the MQTT link is up."""
        return self._mqtt is not None and self._mqtt.connected

    def heartbeat(self) -> dict[str, Any]:
        """What the agent tells the cloud about itself."""
        state = self._controller.state
        outbox = self._store.outbox_stats()
        version = self._store.meta("schedule_version")
        return {
            "at": self._clock.now().isoformat(),
            "agent_version": __version__,
            "schedule_version": None if version is None else int(version),
            "driver_state": state.driver_state,
            "fault": state.fault,
            "outbox_depth": outbox.depth,
            "outbox_oldest_at": outbox.oldest_at.isoformat() if outbox.oldest_at else None,
            "outbox_acks": outbox.acks,
            "outbox_telemetry": outbox.telemetry,
        }

    async def _retrying(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Call until it gets through: exponential backoff with full jitter while the cloud is unreachable."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransportError),
            wait=wait_random_exponential(multiplier=self._config.backoff_initial_s, max=self._config.backoff_max_s),
            sleep=self._clock.sleep,
            before_sleep=lambda state: log.warning(
                "%s failed (attempt %s), retrying: %s",
                what,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
        ):
            with attempt:
                return await call()
        return None
