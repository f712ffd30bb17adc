"""The controller on a simulated battery with a hand-moved clock: execution, acks, safety, faults, restarts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from gridpilot.agent._controller import Controller
from gridpilot.agent._store import Store
from gridpilot.agent.config import AgentConfig, DefaultInterval
from gridpilot.agent.drivers.base import DriverError, InverterState, Reading, Setpoint
from gridpilot.agent.drivers.simulated import SimulatedBattery
from gridpilot.protocol.schedule import Mode
from tests.agent.factories import T0, agent_config, interval


class ManualClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class UnpluggableBattery(SimulatedBattery):
    """The simulated battery with a cable a test can pull and a fault light a test can switch on."""

    unplugged = False
    faulted = False

    async def read(self) -> Reading:
        if self.unplugged:
            raise DriverError("Modbus read of model 124 timed out after 2.0 s")
        reading = await super().read()
        return replace(reading, state=InverterState.FAULT) if self.faulted else reading

    async def apply(self, setpoint: Setpoint) -> None:
        if self.unplugged:
            raise DriverError("Modbus write timed out")
        await super().apply(setpoint)


class Rig:
    """A controller, its store and battery, stepped every second of a hand-moved clock."""

    def __init__(self, tmp_path: Path, soc: float = 50.0, **overrides: object) -> None:
        self.clock = ManualClock()
        self.config: AgentConfig = agent_config(tmp_path, **overrides)
        self.store = Store(self.config.store_path)
        self.battery = UnpluggableBattery(self.config.limits, now=self.clock, soc_pct=soc)
        self.controller = self.new_controller()

    def new_controller(self) -> Controller:
        return Controller(config=self.config, store=self.store, driver=self.battery)

    def schedule(self, *intervals: object, version: int = 1) -> None:
        self.store.replace_schedule(version=version, etag=f"v{version}", intervals=list(intervals), now=self.clock.now)

    async def run_until(self, seconds: float) -> None:
        end = T0 + timedelta(seconds=seconds)
        while self.clock.now <= end:
            await self.controller.step(self.clock.now)
            self.clock.now += timedelta(seconds=1)

    def acks(self) -> dict[int, dict[str, object]]:
        records = self.store.oldest("ack", 1000)
        by_interval = {r.payload["interval_id"]: r.payload for r in records}
        assert len(by_interval) == len(records), "an interval was acknowledged twice"
        return by_interval


async def test_intervals_run_on_the_battery_and_are_acknowledged_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.schedule(interval(1, 0, 60, Mode.CHARGE, 3.0), interval(2, 120, 180, Mode.DISCHARGE, 2.0))
    await rig.run_until(30)
    assert (await rig.battery.read()).power_kw == pytest.approx(3.0)
    await rig.run_until(90)
    assert (await rig.battery.read()).power_kw == 0.0  # idle between intervals
    await rig.run_until(200)
    acks = rig.acks()
    assert {i: a["status"] for i, a in acks.items()} == {1: "executed", 2: "executed"}
    assert acks[1]["energy_kwh"] == pytest.approx(3.0 / 60, rel=0.05)
    assert acks[2]["energy_kwh"] == pytest.approx(2.0 / 60, rel=0.05)
    assert acks[1]["started_at"] == T0.isoformat()
    assert acks[1]["message"] is None
    assert rig.store.outbox_stats().telemetry > 0


async def test_the_device_limits_stop_charging_and_say_why(tmp_path: Path) -> None:
    rig = Rig(tmp_path, soc=89.9)
    rig.schedule(interval(1, 0, 600, Mode.CHARGE, 8.0))
    await rig.run_until(601)
    battery = await rig.battery.read()
    assert battery.soc_pct == pytest.approx(90.0, abs=0.2)  # the simulated cells would go on to 100 %
    message = rig.acks()[1]["message"]
    assert "limited to 5 kW" in message and "reached max_soc_pct 90" in message


async def test_an_agent_started_late_records_missed_intervals(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.schedule(interval(1, 0, 60), interval(2, 60, 300), interval(3, 300, 400))
    rig.clock.now = T0 + timedelta(seconds=200)  # the agent was down until now; grace is 60 s
    await rig.run_until(450)
    acks = rig.acks()
    assert {i: a["status"] for i, a in acks.items()} == {1: "missed", 2: "missed", 3: "executed"}
    assert acks[1]["started_at"] is None and "not started" in acks[1]["message"]


async def test_a_driver_fault_fails_the_interval_with_the_reason_and_stops_telemetry(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.schedule(interval(1, 0, 60), interval(2, 60, 120))
    await rig.run_until(20)
    telemetry_before = rig.store.outbox_stats().telemetry
    rig.battery.unplugged = True
    await rig.run_until(70)
    assert rig.controller.state.driver_state == "fault"
    assert rig.store.outbox_stats().telemetry == telemetry_before  # nothing stale published
    acks = rig.acks()
    assert acks[1]["status"] == "failed" and "driver fault: Modbus read of model 124 timed out" in acks[1]["message"]
    assert acks[2]["status"] == "failed" and acks[2]["started_at"] is None
    rig.battery.unplugged = False
    rig.schedule(interval(3, 80, 100), version=2)
    await rig.run_until(110)
    assert rig.controller.state.driver_state == "ok"
    assert rig.acks()[3]["status"] == "executed"


async def test_a_fault_the_inverter_reports_fails_the_interval_but_telemetry_goes_on(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.schedule(interval(1, 0, 60))
    await rig.run_until(10)
    rig.battery.faulted = True
    before = rig.store.outbox_stats().telemetry
    await rig.run_until(40)
    ack = rig.acks()[1]
    assert ack["status"] == "failed" and "the inverter reports a fault state" in ack["message"]
    assert rig.store.outbox_stats().telemetry > before  # a fresh reading of a faulted inverter is still news


async def test_a_brief_restart_resumes_the_interval_and_says_so(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.schedule(interval(1, 0, 120))
    await rig.run_until(30)
    rig.clock.now += timedelta(seconds=20)  # killed; back 20 s later, within the 60 s grace
    rig.controller = rig.new_controller()
    rig.controller.recover(rig.clock.now)
    await rig.run_until(130)
    ack = rig.acks()[1]
    assert ack["status"] == "executed" and "interrupted" in ack["message"] and "resumed" in ack["message"]


async def test_a_long_outage_closes_the_cut_interval_truthfully_and_never_reruns_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path, setpoint_refresh_s=5.0)
    rig.schedule(interval(1, 0, 600), interval(2, 600, 700))
    await rig.run_until(42)
    rig.clock.now += timedelta(seconds=300)  # down for 5 minutes
    rig.controller = rig.new_controller()
    rig.controller.recover(rig.clock.now)
    await rig.run_until(800)
    acks = rig.acks()
    assert acks[1]["status"] == "failed" and "not resumed" in acks[1]["message"]
    ended = datetime.fromisoformat(acks[1]["ended_at"])
    assert T0 + timedelta(seconds=35) <= ended <= T0 + timedelta(seconds=43)  # the last checkpoint before the kill
    assert acks[2]["status"] == "executed"


async def test_the_fallback_schedule_applies_only_without_a_plan(tmp_path: Path) -> None:
    rig = Rig(
        tmp_path, fallback="default_schedule", default_schedule=(DefaultInterval(time(11), time(13), Mode.CHARGE, 1.0),)
    )
    await rig.run_until(5)
    assert (await rig.battery.read()).power_kw == pytest.approx(1.0)
    rig.schedule(interval(1, 100, 200, Mode.DISCHARGE, 2.0))
    await rig.run_until(10)
    assert (await rig.battery.read()).power_kw == 0.0  # a plan is known: idle between its intervals
