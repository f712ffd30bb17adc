"""The optimizer against optima known by hand and by exhaustive search, including negative prices."""

from __future__ import annotations

import numpy as np
import pytest

from gridpilot.market.dispatch import Battery, DispatchProblem, Method, optimize
from tests.market.dispatch.checks import assert_feasible, brute_force_cost, settled_cost


def test_buys_low_sells_high_with_losses_as_computed_by_hand() -> None:
    battery = Battery(100, 50, 50, 0.9, 0.9, 0, 100)
    problem = DispatchProblem(battery, np.array([10.0, 50.0]), 60, 50, final_soc_pct=50)

    dispatch = optimize(problem)

    # 50 kW for an hour stores 45 kWh; drawing them back out gives 40.5 kWh at the terminals.
    np.testing.assert_allclose(dispatch.charge_kw, [50, 0], atol=1e-9)
    np.testing.assert_allclose(dispatch.discharge_kw, [0, 40.5], atol=1e-9)
    assert dispatch.objective == pytest.approx((10 * 50 - 50 * 40.5) / 1000)
    assert dispatch.method is Method.LP


def test_stays_idle_when_the_spread_does_not_pay_the_losses() -> None:
    battery = Battery(100, 50, 50, 0.9, 0.9, 0, 100)
    dispatch = optimize(DispatchProblem(battery, np.array([40.0, 45.0]), 60, 50))

    assert np.all(dispatch.charge_kw == 0) and np.all(dispatch.discharge_kw == 0)
    assert dispatch.objective == pytest.approx(0.0)


def test_negative_prices_do_not_earn_by_charging_and_discharging_at_once() -> None:
    # The LP would burn 30 kWh per step (charge 40, discharge 10, SoC unchanged): -6.0. Physically a
    # battery does one or the other: charge 40 then discharge 10, or the reverse, earning 3.0.
    battery = Battery(100, 40, 40, 0.5, 0.5, 0, 100)
    problem = DispatchProblem(battery, np.array([-100.0, -100.0]), 60, 50)

    dispatch = optimize(problem)

    assert dispatch.method is Method.BRANCH_AND_BOUND
    assert dispatch.objective == pytest.approx(-3.0)
    assert_feasible(dispatch, battery, 50)
    assert settled_cost(dispatch, problem) == pytest.approx(-3.0)


def test_lossless_battery_nets_at_negative_prices_without_a_milp() -> None:
    battery = Battery(100, 40, 40, 1.0, 1.0, 0, 100)
    dispatch = optimize(DispatchProblem(battery, np.array([-100.0, 20.0, -5.0]), 60, 50))

    assert dispatch.method in (Method.LP, Method.LP_FIXUP)
    assert np.all(np.minimum(dispatch.charge_kw, dispatch.discharge_kw) == 0)


@pytest.mark.parametrize("seed", range(6))
def test_lossless_integral_cases_equal_exhaustive_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    battery = Battery(20, 10, 10, 1.0, 1.0, 0, 100, degradation_cost_per_mwh=float(rng.integers(0, 3)))
    prices = rng.integers(-30, 60, size=4).astype(float)
    problem = DispatchProblem(battery, prices, 60, 50)

    dispatch = optimize(problem)

    assert dispatch.objective == pytest.approx(brute_force_cost(problem, levels=11), abs=1e-9)
    assert_feasible(dispatch, battery, 50)


@pytest.mark.parametrize("seed", range(6))
def test_lossy_cases_at_least_as_good_as_any_plan_on_a_grid(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    battery = Battery(10, 5, 4, 0.9, 0.85, 10, 90, degradation_cost_per_mwh=2.0)
    prices = rng.normal(10, 40, size=4)  # often negative
    problem = DispatchProblem(battery, prices, 30, 50)

    dispatch = optimize(problem)

    assert dispatch.objective <= brute_force_cost(problem, levels=9) + 1e-9
    assert dispatch.objective == pytest.approx(settled_cost(dispatch, problem), abs=1e-9)
    assert_feasible(dispatch, battery, 50)


def test_quarter_hours_with_hourly_prices_match_the_hourly_optimum() -> None:
    rng = np.random.default_rng(7)
    battery = Battery(2000, 1000, 1000, 0.95, 0.95, 10, 90)
    hourly = rng.normal(40, 15, size=24)

    by_hour = optimize(DispatchProblem(battery, hourly, 60, 50))
    by_quarter = optimize(DispatchProblem(battery, np.repeat(hourly, 4), 15, 50))

    assert by_quarter.objective == pytest.approx(by_hour.objective, rel=1e-9)
    assert by_quarter.soc_pct.size == 97
    assert_feasible(by_quarter, battery, 50)


def test_quarter_hour_prices_earn_at_least_their_hourly_average() -> None:
    rng = np.random.default_rng(8)
    battery = Battery(2000, 1000, 1000, 0.95, 0.95, 10, 90)
    quarters = rng.normal(40, 15, size=96)

    fine = optimize(DispatchProblem(battery, quarters, 15, 50))
    coarse = optimize(DispatchProblem(battery, np.repeat(quarters.reshape(24, 4).mean(axis=1), 4), 15, 50))

    assert fine.objective <= coarse.objective + 1e-9


def test_terminal_value_keeps_energy_that_is_worth_more_later() -> None:
    battery = Battery(100, 100, 100, 1.0, 1.0, 0, 100)
    prices = np.array([30.0, 30.0])

    keep = optimize(DispatchProblem(battery, prices, 60, 50, terminal_value_per_mwh=40))
    sell = optimize(DispatchProblem(battery, prices, 60, 50, terminal_value_per_mwh=20))

    assert keep.soc_pct[-1] == pytest.approx(100)
    assert sell.soc_pct[-1] == pytest.approx(0)
    assert keep.objective == pytest.approx(30 * 50 / 1000 - 40 * 100 / 1000)


def test_degradation_cost_stops_cycling_on_a_thin_spread() -> None:
    battery = Battery(100, 50, 50, 1.0, 1.0, 0, 100, degradation_cost_per_mwh=6)
    prices = np.array([40.0, 50.0])  # a spread of 10 against 12 of wear per MWh cycled

    dispatch = optimize(DispatchProblem(battery, prices, 60, 50))

    assert np.all(dispatch.charge_kw == 0) and np.all(dispatch.discharge_kw == 0)
