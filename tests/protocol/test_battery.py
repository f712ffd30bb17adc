"""The battery model: SoC moves by the stored or drawn energy over capacity, with efficiencies applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridpilot.protocol import BatteryLimits, Interval, Mode, soc_after, soc_trajectory

T0 = datetime(2026, 11, 25, tzinfo=UTC)
LIMITS = BatteryLimits(
    capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5, charge_efficiency=0.95, discharge_efficiency=0.9
)


def interval(mode: Mode, rate_kw: float, hours: float, start: datetime = T0) -> Interval:
    return Interval(start, start + timedelta(hours=hours), mode, rate_kw)


def test_charging_stores_energy_less_the_charge_losses() -> None:
    assert soc_after(50, interval(Mode.CHARGE, 2, 1), LIMITS) == pytest.approx(50 + 2 * 0.95 / 10 * 100)


def test_discharging_draws_more_than_it_delivers() -> None:
    assert soc_after(50, interval(Mode.DISCHARGE, 1.8, 1), LIMITS) == pytest.approx(50 - 1.8 / 0.9 / 10 * 100)


def test_trajectory_accumulates_and_idle_gaps_leave_soc_alone() -> None:
    first = interval(Mode.CHARGE, 1, 1)
    second = interval(Mode.DISCHARGE, 0.9, 1, start=T0 + timedelta(hours=5))
    assert soc_trajectory(20, [first, second], LIMITS) == pytest.approx([29.5, 19.5])


def test_max_rate_depends_on_mode() -> None:
    limits = BatteryLimits(capacity_kwh=10, max_charge_kw=3, max_discharge_kw=4)
    assert (limits.max_rate_kw(Mode.CHARGE), limits.max_rate_kw(Mode.DISCHARGE)) == (3, 4)
