"""The control loop's one step: finish, miss or start intervals, and send the battery one safe setpoint.

One controller per device owns the driver. It turns every driver error into one domain
state (a fault after `fault_after` consecutive failures), and it is the only writer of
execution state, so each interval gets exactly one ack.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gridpilot.agent._plan import fallback_interval, plan_intervals, safe_setpoint
from gridpilot.agent._store import LocalInterval, Store
from gridpilot.agent.config import AgentConfig
from gridpilot.agent.drivers.base import Driver, DriverError, InverterState, Reading, Setpoint
from gridpilot.protocol.schedule import Mode

log = logging.getLogger("gridpilot.agent")
_MESSAGE_MAX = 1000


@dataclass(frozen=True, slots=True)
class ControllerState:
    """What the controller is doing, for the heartbeat and `agent status`."""

    driver_state: str
    fault: str | None
    reading: Reading | None
    active_interval: int | None
    setpoint: Setpoint | None


class Controller:
    """Executes the stored intervals on the driver, one step at a time."""

    def __init__(self, *, config: AgentConfig, store: Store, driver: Driver) -> None:
        self._config = config
        self._store = store
        self._driver = driver
        self._grace = timedelta(seconds=config.missed_grace_s)
        self._connected = False
        self._failures = 0
        self._fault: str | None = None
        self._reading: Reading | None = None
        self._setpoint: Setpoint | None = None
        self._applied_at: datetime | None = None
        self._active: int | None = None
        self._energy_kwh = 0.0
        self._integrated_at: datetime | None = None
        self._checkpoint_at: datetime | None = None
        self._next_telemetry_at: datetime | None = None

    @property
    def state(self) -> ControllerState:
        """The driver's health, the latest fresh reading, the interval running and the setpoint in force."""
        driver_state = "fault" if self._fault else "ok" if self._connected else "disconnected"
        return ControllerState(driver_state, self._fault, self._reading, self._active, self._setpoint)

    def recover(self, now: datetime) -> None:
        """After a start: resume an interval cut short by a brief stop, close one that was down too long."""
        for interval in self._store.open_intervals():
            if interval.state != "running":
                continue
            last_seen = interval.checkpoint_at or interval.start
            down = f"the agent stopped at about {_clock(last_seen)} and restarted at {_clock(now)}"
            if now < interval.end and now - last_seen <= self._grace:
                self._store.checkpoint(interval.id, now, interval.energy_kwh, note=f"interrupted: {down}; resumed. ")
                log.warning("resuming interval %s after a restart", interval.id)
            else:
                self._finish(
                    interval,
                    status="failed",
                    ended_at=last_seen,
                    energy_kwh=interval.energy_kwh,
                    message=f"interrupted: {down}; not resumed (down longer than the {self._grace.seconds} s grace "
                    "period or past the interval's end)",
                    now=now,
                )

    async def step(self, now: datetime) -> datetime:
        """Bring the battery in line with the plan at `now`; returns when the next step is due."""
        reading = await self._read()
        plan = plan_intervals(self._store.open_intervals(started_by=now), now, self._grace)
        for interval in plan.missed:
            self._finish(
                interval,
                status="missed",
                ended_at=None,
                energy_kwh=None,
                message=f"not started: the agent was not running within {self._grace.seconds} s of the start "
                f"({_clock(interval.start)})",
                now=now,
            )
        for interval in plan.finished:
            self._finish(interval, status="executed", ended_at=interval.end, energy_kwh=self._energy(interval), now=now)
        active = plan.active
        if plan.to_start is not None:
            active = self._start(plan.to_start, now)
        if active is not None and self._fault:
            self._finish(
                active,
                status="failed",
                ended_at=now if active.started_at else None,
                energy_kwh=self._energy(active) if active.started_at else None,
                message=f"driver fault: {self._fault}",
                now=now,
            )
            active = None
        await self._command(active, reading, now)
        self._record_telemetry(reading, now)
        wake = [now + timedelta(seconds=self._config.control_tick_s)]
        wake += [t for t in (self._store.next_start(now), active.end if active else None) if t is not None]
        return min(wake)

    async def stop(self, now: datetime) -> None:
        """On a clean shutdown: checkpoint the running interval and leave the battery idle."""
        if self._active is not None:
            self._store.checkpoint(self._active, now, self._energy_kwh)
        try:
            await self._driver.apply(Setpoint(None, 0.0, self._config.revert_s))
        except DriverError as exc:
            log.warning("could not set the battery idle on shutdown: %s", exc)
        await self._driver.close()

    async def _read(self) -> Reading | None:
        try:
            if not self._connected:
                await self._driver.connect()
                self._connected = True
            reading = await self._driver.read()
        except DriverError as exc:
            self._driver_failed(exc)
            self._reading = None
            return None
        fault = "the inverter reports a fault state" if reading.state is InverterState.FAULT else None
        if self._fault and not fault:
            log.warning("driver recovered from fault: %s", self._fault)
        elif fault and not self._fault:
            log.error("driver fault: %s", fault)
        self._failures, self._fault, self._reading = 0, fault, reading
        return reading

    def _driver_failed(self, exc: DriverError) -> None:
        self._failures += 1
        self._connected = False
        self._setpoint = None  # unknown after a failure: send it again once the driver answers
        if self._failures >= self._config.driver.fault_after and self._fault is None:
            self._fault = str(exc)[:500]
            log.error("driver fault after %s consecutive failures: %s", self._failures, exc)

    def _start(self, interval: LocalInterval, now: datetime) -> LocalInterval | None:
        late = (now - interval.start).total_seconds()
        note = f"started {late:.0f} s late, at {_clock(now)}. " if late >= 1 else ""
        if self._fault:
            return interval  # closed as failed by the caller, with the fault as the reason
        self._store.start_interval(interval.id, now, note)
        return next((i for i in self._store.open_intervals(started_by=now) if i.id == interval.id), None)

    async def _command(self, active: LocalInterval | None, reading: Reading | None, now: datetime) -> None:
        if active is None:
            fallback = None
            if self._config.fallback == "default_schedule" and not self._store.has_open_intervals():
                fallback = fallback_interval(self._config.default_schedule, self._config.timezone, now)
            mode, rate = (fallback.mode, fallback.rate_kw) if fallback else (None, 0.0)
        else:
            mode, rate = active.mode, active.rate_kw
            self._track(active, reading, now)
        if reading is None:
            return  # no fresh reading: no way to check SoC limits, and a broken link cannot take commands anyway
        setpoint, why = safe_setpoint(mode, rate, reading, self._config.limits, self._config.revert_s)
        if active is not None and why and why not in active.notes:
            self._store.checkpoint(active.id, now, self._energy_kwh, note=f"{why} (at {_clock(now)}). ")
            log.warning("interval %s: %s", active.id, why)
        refresh_due = self._applied_at is None or (now - self._applied_at).total_seconds() >= (
            self._config.setpoint_refresh_s
        )
        if setpoint == self._setpoint and not refresh_due:
            return
        try:
            await self._driver.apply(setpoint)
        except DriverError as exc:
            self._driver_failed(exc)
            return
        self._setpoint, self._applied_at = setpoint, now

    def _track(self, active: LocalInterval, reading: Reading | None, now: datetime) -> None:
        """Integrate the measured power into the interval's energy; checkpoint it every refresh period."""
        if self._active != active.id:
            self._active, self._energy_kwh = active.id, active.energy_kwh
            self._integrated_at = self._checkpoint_at = now
        if reading is not None and self._integrated_at is not None:
            hours = (now - self._integrated_at).total_seconds() / 3600.0
            direction = 1.0 if active.mode is Mode.CHARGE else -1.0
            self._energy_kwh += direction * reading.power_kw * hours
        self._integrated_at = now
        if (
            self._checkpoint_at is None
            or (now - self._checkpoint_at).total_seconds() >= self._config.setpoint_refresh_s
        ):
            self._store.checkpoint(active.id, now, self._energy_kwh)
            self._checkpoint_at = now

    def _energy(self, interval: LocalInterval) -> float:
        return self._energy_kwh if interval.id == self._active else interval.energy_kwh

    def _finish(
        self,
        interval: LocalInterval,
        *,
        status: str,
        ended_at: datetime | None,
        energy_kwh: float | None,
        now: datetime,
        message: str = "",
    ) -> None:
        text = (interval.notes + message).strip()
        ack: dict[str, Any] = {
            "ack_id": str(uuid.uuid4()),
            "interval_id": interval.id,
            "status": status,
            "started_at": interval.started_at.isoformat() if interval.started_at else None,
            "ended_at": ended_at.isoformat() if ended_at else None,
            "energy_kwh": None if energy_kwh is None else round(energy_kwh, 6),
            "soc_pct": round(self._reading.soc_pct, 3) if self._reading else None,
            "message": text[:_MESSAGE_MAX] or None,
        }
        if self._store.finish_interval(interval.id, outcome=status, ended_at=ended_at, ack=ack, at=now):
            log.info("interval %s %s", interval.id, status, extra={"ack": ack})
        if interval.id == self._active:
            self._active = None

    def _record_telemetry(self, reading: Reading | None, now: datetime) -> None:
        """Queue the fresh reading every telemetry interval; a failed read queues nothing (never stale data)."""
        if self._next_telemetry_at is not None and now < self._next_telemetry_at:
            return
        self._next_telemetry_at = now + timedelta(seconds=self._config.telemetry_interval_s)
        self._store.set_meta(controller=json.dumps(_describe(self.state), default=str), controller_at=now.isoformat())
        if reading is None:
            return
        point = {
            "at": reading.at.isoformat(),
            "soc_pct": round(reading.soc_pct, 3),
            "power_kw": round(reading.power_kw, 4),
            "state": reading.state.value,
            "voltage_v": reading.voltage_v,
            "temperature_c": reading.temperature_c,
            "soh_pct": reading.soh_pct,
        }
        self._store.enqueue("telemetry", point, now)
        self._store.thin_telemetry(self._config.outbox_max_records)


def _describe(state: ControllerState) -> dict[str, Any]:
    return {
        "driver_state": state.driver_state,
        "fault": state.fault,
        "active_interval": state.active_interval,
        "setpoint": None
        if state.setpoint is None
        else {"mode": state.setpoint.mode, "rate_kw": state.setpoint.rate_kw, "revert_s": state.setpoint.revert_s},
        "reading": None
        if state.reading is None
        else {
            "at": state.reading.at.isoformat(),
            "soc_pct": state.reading.soc_pct,
            "power_kw": state.reading.power_kw,
            "state": state.reading.state.value,
        },
    }


def _clock(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
