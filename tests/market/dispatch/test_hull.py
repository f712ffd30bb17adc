"""A battery alone at negative prices: branch and bound on the hull LP gives the MILP's optimum without one."""

from __future__ import annotations

import highspy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridpilot.market.dispatch import Battery, DispatchProblem, Method, Solver, hull, optimize
from gridpilot.market.dispatch.bounds import step_bounds
from gridpilot.market.dispatch.exclusive import milp_solution
from gridpilot.market.dispatch.program import build_program
from tests.market.dispatch.checks import (
    assert_as_good_as_the_every_step_milp,
    assert_feasible,
    batteries,
    brute_force_cost,
    every_step_milp,
)

BATTERY = Battery(10, 5, 5, 0.9, 0.9, 10, 90)


def every_step_milp_cost(problem: DispatchProblem) -> float:
    """The optimum with a binary on every step, the reference an exact method must reach."""
    bounds = step_bounds(problem)
    program = build_program(problem, bounds)
    status, values = milp_solution(program, bounds, every_step=True)
    assert status == highspy.HighsModelStatus.kOptimal and values is not None
    return float(program.cost @ values)


def test_a_day_the_hull_lp_leaves_open_is_closed_by_branching(monkeypatch: pytest.MonkeyPatch) -> None:
    # Charging at -5 and -27 around a sale at 55: the hull LP still mixes both choices in one step.
    problem = DispatchProblem(BATTERY, np.array([-5.0, 55.0, -27.0]), 60, 50)

    dispatch = optimize(problem)

    assert dispatch.method is Method.BRANCH_AND_BOUND
    assert dispatch.objective == pytest.approx(every_step_milp_cost(problem), abs=1e-9)
    assert dispatch.objective <= brute_force_cost(problem, levels=21) + 1e-9  # any plan on a power grid
    assert_feasible(dispatch, BATTERY, 50)
    monkeypatch.setattr(hull, "MAX_NODES", 1)
    given_up = optimize(problem)
    assert given_up.method is Method.MILP and given_up.objective == pytest.approx(dispatch.objective, abs=1e-9)


def test_a_full_battery_cannot_burn_energy_in_the_hull_lp(monkeypatch: pytest.MonkeyPatch) -> None:
    """c/C + d/D <= 1 would let it charge and discharge half way at -50; the hull LP alone is exact."""
    monkeypatch.setattr(hull, "MAX_NODES", 1)
    problem = DispatchProblem(BATTERY, np.array([-50.0, -50.0, 60.0]), 60, 90, final_soc_pct=90)

    dispatch = optimize(problem)

    assert dispatch.method is Method.BRANCH_AND_BOUND
    assert dispatch.objective == pytest.approx(every_step_milp_cost(problem), abs=1e-9)
    assert_feasible(dispatch, BATTERY, 90)


def test_a_gain_of_a_millionth_is_not_lost_to_the_solver_s_tolerance() -> None:
    """Found by the property test below: with HiGHS' default dual tolerance the hull LP stayed idle here."""
    battery = Battery(1.0, 60.0, 1.0, 0.75, 0.875, 18.0, 34.0)
    problem = DispatchProblem(battery, np.array([0.0, 0.0078125, -1.0]), 15, 18)

    dispatch = optimize(problem)

    # 0.16 kWh stored for free, sold at 0.0078125 per MWh: 0.16 * 0.875 kWh * 0.0078125 / 1000
    assert dispatch.method is Method.BRANCH_AND_BOUND
    assert dispatch.objective == pytest.approx(-0.16 * 0.875 * 0.0078125 / 1000, rel=1e-9)
    assert dispatch.objective == pytest.approx(every_step_milp_cost(problem), rel=1e-9)


def test_a_branch_no_plan_can_take_is_dropped() -> None:
    # From 90 % down to 30 % at 2 kW out: one branch forbids a discharge the way down needs.
    battery = Battery(10, 5, 2, 0.8, 0.8, 10, 90)
    problem = DispatchProblem(battery, np.array([-13.0, -94.0, -61.0]), 60, 90, final_soc_pct=30)

    dispatch = optimize(problem)

    assert dispatch.method is Method.BRANCH_AND_BOUND
    assert dispatch.objective == pytest.approx(every_step_milp_cost(problem), abs=1e-9)
    assert_feasible(dispatch, battery, 30)


def test_a_cold_solver_gives_what_a_warm_one_gives() -> None:
    rng = np.random.default_rng(7)
    days = [rng.normal(5, 40, 24) for _ in range(20)]
    warm, cold = Solver(), Solver(warm_start=False)
    for prices in days:
        problem = DispatchProblem(BATTERY, prices, 60, 50)
        a, b = warm.solve(problem), cold.solve(problem)
        assert a.method is b.method
        assert a.objective == pytest.approx(b.objective, abs=1e-9)


@st.composite
def batteries_at_negative_prices(draw: st.DrawFn) -> DispatchProblem:
    battery = draw(batteries(most_efficient=1.0))
    steps = draw(st.integers(2, 30))
    prices = np.array(draw(st.lists(st.floats(-150, 100), min_size=steps, max_size=steps)))
    initial = draw(st.floats(0, 100))  # outside the SoC range too: the steps that bring it back
    final = draw(st.one_of(st.none(), st.floats(battery.min_soc_pct, battery.max_soc_pct)))
    terminal = draw(st.one_of(st.none(), st.floats(-50, 100))) if final is None else None
    minutes = draw(st.sampled_from([15.0, 30.0, 60.0]))
    return DispatchProblem(battery, prices, minutes, initial, final_soc_pct=final, terminal_value_per_mwh=terminal)


@settings(max_examples=200, deadline=None)
@given(batteries_at_negative_prices())
def test_the_optimum_equals_the_milp_with_a_binary_on_every_step(problem: DispatchProblem) -> None:
    dispatch = optimize(problem)
    program, status, every_step = every_step_milp(problem)
    assert status == highspy.HighsModelStatus.kOptimal and every_step is not None

    assert dispatch.method is not Method.IDLE
    assert_as_good_as_the_every_step_milp(dispatch, program, every_step)
    if problem.battery.min_soc_pct <= problem.initial_soc_pct <= problem.battery.max_soc_pct:
        assert_feasible(dispatch, problem.battery, problem.final_soc_pct if not dispatch.warnings else None)
