"""Inputs no plan can honour give a best-effort plan and a warning that says what was given up."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gridpilot.market.dispatch import Battery, DispatchProblem, Method, Site, optimize, to_schedule
from gridpilot.protocol import validate_schedule

BATTERY = Battery(2000, 1000, 1000, 0.95, 0.95, 10, 90)
PRICES = np.array([50.0, 20.0, 80.0, 30.0, 90.0, 40.0])
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_below_the_minimum_it_charges_first_and_says_so() -> None:
    dispatch = optimize(DispatchProblem(BATTERY, PRICES, 60, 3))

    assert any("below the minimum" in warning for warning in dispatch.warnings)
    assert dispatch.charge_kw[0] > 0 and dispatch.discharge_kw[0] == 0
    assert dispatch.soc_pct[1] >= 10 - 1e-9
    schedule = to_schedule(dispatch, battery=BATTERY, device_id="b", start=NOW)
    assert schedule is not None
    assert validate_schedule(schedule.to_json(), now=NOW, limits=BATTERY.limits(), soc_pct=3).ok


def test_above_the_maximum_it_discharges_first() -> None:
    dispatch = optimize(DispatchProblem(BATTERY, PRICES, 60, 99))

    assert any("above the maximum" in warning for warning in dispatch.warnings)
    assert dispatch.discharge_kw[0] > 0
    assert dispatch.soc_pct[-1] == pytest.approx(90)


def test_a_slow_recovery_that_does_not_finish_is_still_a_plan() -> None:
    slow = Battery(100, 1, 1, 1.0, 1.0, 50, 60)
    dispatch = optimize(DispatchProblem(slow, PRICES, 60, 0))

    assert any("not within the horizon" in warning for warning in dispatch.warnings)
    np.testing.assert_allclose(dispatch.charge_kw, 1.0)
    np.testing.assert_allclose(dispatch.soc_pct[-1], 6.0)


def test_an_unreachable_target_is_moved_to_the_nearest_reachable_soc() -> None:
    dispatch = optimize(DispatchProblem(BATTERY, PRICES[:1], 60, 20, final_soc_pct=90))

    assert any("cannot be reached" in warning for warning in dispatch.warnings)
    assert dispatch.soc_pct[-1] == pytest.approx(20 + 47.5)  # one hour at 1 MW stores 950 kWh
    assert dispatch.method is not Method.IDLE


def test_a_target_outside_the_soc_range_is_clamped() -> None:
    dispatch = optimize(DispatchProblem(BATTERY, PRICES, 60, 50, final_soc_pct=100))

    assert dispatch.soc_pct[-1] == pytest.approx(90)
    assert dispatch.warnings


def test_a_grid_limit_the_load_alone_exceeds_is_dropped_with_a_warning() -> None:
    site = Site(np.full(6, 5000.0), np.zeros(6), PRICES, grid_limit_kw=1000)
    dispatch = optimize(DispatchProblem(BATTERY, PRICES, 60, 50, site=site))

    assert any("grid within 1000 kW" in warning for warning in dispatch.warnings)
    assert dispatch.method is not Method.IDLE


def test_a_consistent_problem_has_no_warning() -> None:
    dispatch = optimize(DispatchProblem(BATTERY, PRICES, 60, 50))

    assert dispatch.warnings == () and dispatch.ok


@pytest.mark.parametrize(
    "change",
    [
        {"capacity_kwh": 0},
        {"max_charge_kw": -1},
        {"charge_efficiency": 1.2},
        {"min_soc_pct": 80, "max_soc_pct": 20},
        {"degradation_cost_per_mwh": float("nan")},
    ],
)
def test_impossible_batteries_are_refused_at_construction(change: dict[str, float]) -> None:
    fields = {"capacity_kwh": 10.0, "max_charge_kw": 5.0, "max_discharge_kw": 5.0} | change
    with pytest.raises(ValueError):
        Battery(**fields)


def test_prices_with_gaps_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        DispatchProblem(BATTERY, np.array([1.0, np.nan]), 60, 50)
