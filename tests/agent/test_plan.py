"""The pure execution rules: which intervals start, finish or are missed, and the safe setpoint."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from gridpilot.agent._plan import fallback_interval, plan_intervals, safe_setpoint
from gridpilot.agent.config import DefaultInterval
from gridpilot.agent.drivers.base import InverterState, Reading
from gridpilot.protocol.battery import BatteryLimits
from gridpilot.protocol.schedule import Mode
from tests.agent.factories import T0, interval

GRACE = timedelta(seconds=60)
LIMITS = BatteryLimits(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=4, min_soc_pct=10, max_soc_pct=90)


def reading(soc: float) -> Reading:
    return Reading(at=T0, soc_pct=soc, power_kw=0.0, state=InverterState.IDLE)


def test_an_interval_starts_at_its_start_and_a_later_one_waits() -> None:
    first, second = interval(1, 0, 60), interval(2, 120, 180)
    plan = plan_intervals([first, second], T0, GRACE)
    assert plan.to_start == first
    assert plan.missed == [] and plan.finished == [] and plan.active is None


def test_a_late_start_within_grace_still_runs_but_beyond_grace_is_missed() -> None:
    late = interval(1, 0, 600)
    assert plan_intervals([late], T0 + timedelta(seconds=59), GRACE).to_start == late
    plan = plan_intervals([late], T0 + timedelta(seconds=61), GRACE)
    assert plan.to_start is None and plan.missed == [late]


def test_intervals_that_ended_while_down_are_missed_not_run_late() -> None:
    past = [interval(1, 0, 30), interval(2, 30, 60)]
    plan = plan_intervals(past, T0 + timedelta(seconds=61), GRACE)
    assert plan.missed == past and plan.to_start is None


def test_a_running_interval_finishes_at_its_end() -> None:
    running = interval(1, 0, 60, state="running", started_at=T0)
    assert plan_intervals([running], T0 + timedelta(seconds=59), GRACE).active == running
    assert plan_intervals([running], T0 + timedelta(seconds=60), GRACE).finished == [running]


@pytest.mark.parametrize(
    ("mode", "rate", "soc", "expected_mode", "expected_rate", "why"),
    [
        (Mode.CHARGE, 3.0, 50, Mode.CHARGE, 3.0, None),
        (Mode.CHARGE, 8.0, 50, Mode.CHARGE, 5.0, "above the device's maximum 5 kW"),
        (Mode.DISCHARGE, 8.0, 50, Mode.DISCHARGE, 4.0, "above the device's maximum 4 kW"),
        (Mode.CHARGE, 3.0, 90, None, 0.0, "reached max_soc_pct 90"),
        (Mode.DISCHARGE, 3.0, 10, None, 0.0, "reached min_soc_pct 10"),
        (Mode.DISCHARGE, 3.0, 90, Mode.DISCHARGE, 3.0, None),
        (None, 0.0, 50, None, 0.0, None),
    ],
)
def test_the_device_limits_win_over_the_schedule(
    mode: Mode | None, rate: float, soc: float, expected_mode: Mode | None, expected_rate: float, why: str | None
) -> None:
    setpoint, reason = safe_setpoint(mode, rate, reading(soc), LIMITS, revert_s=15)
    assert (setpoint.mode, setpoint.rate_kw, setpoint.revert_s) == (expected_mode, expected_rate, 15)
    assert (reason is None) == (why is None)
    if why:
        assert why in reason


def test_the_default_schedule_applies_in_local_time_across_midnight() -> None:
    night = (DefaultInterval(time(23, 0), time(0, 0), Mode.CHARGE, 2.0),)
    # 23:30 in Oslo in winter is 22:30 UTC
    found = fallback_interval(night, "Europe/Oslo", datetime(2026, 11, 25, 22, 30, tzinfo=UTC))
    assert found is not None and found.mode is Mode.CHARGE
    assert found.end - found.start == timedelta(hours=1)
    assert fallback_interval(night, "Europe/Oslo", datetime(2026, 11, 25, 21, 30, tzinfo=UTC)) is None
