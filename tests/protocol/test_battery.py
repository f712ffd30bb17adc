"""The battery model: SoC moves by the stored or drawn energy over capacity, with efficiencies applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridpilot.protocol import (
    BatteryLimits,
    Interval,
    Mode,
    newest_soc,
    projected_soc_pct,
    soc_after,
    soc_trajectory,
)

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


def test_a_projection_runs_only_the_parts_of_intervals_between_its_two_moments() -> None:
    charge = interval(Mode.CHARGE, 1, 2)  # 9.5 points an hour
    later = interval(Mode.DISCHARGE, 0.9, 1, start=T0 + timedelta(hours=5))  # 10 points

    projected = projected_soc_pct(
        20, [later, charge], LIMITS, since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=5, minutes=30)
    )

    assert projected == pytest.approx(20 + 1.5 * 9.5 - 5)
    assert projected_soc_pct(20, [charge], LIMITS, since=T0, until=T0) == 20


def test_a_projection_stops_at_the_limits_like_the_agent() -> None:
    limits = BatteryLimits(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5, min_soc_pct=10, max_soc_pct=90)
    full = interval(Mode.CHARGE, 5, 2)
    empty = interval(Mode.DISCHARGE, 5, 4, start=T0 + timedelta(hours=2))
    end = T0 + timedelta(hours=6)

    assert projected_soc_pct(50, [full], limits, since=T0, until=end) == 90
    assert projected_soc_pct(50, [full, empty], limits, since=T0, until=end) == 10
    assert projected_soc_pct(5, [interval(Mode.DISCHARGE, 1, 1)], limits, since=T0, until=end) == 5
    assert projected_soc_pct(95, [interval(Mode.CHARGE, 1, 1)], limits, since=T0, until=end) == 95


def test_the_starting_soc_is_the_newer_of_the_last_ack_and_the_latest_telemetry() -> None:
    earlier, later = T0 - timedelta(minutes=10), T0
    assert newest_soc(None, None, None) is None
    assert newest_soc(40.0, earlier, None) == (40.0, earlier)
    assert newest_soc(None, None, (55.0, later)) == (55.0, later)
    assert newest_soc(40.0, earlier, (55.0, later)) == (55.0, later)
    assert newest_soc(40.0, later, (55.0, earlier)) == (40.0, later)
