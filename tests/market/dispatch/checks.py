"""Shared helpers for the dispatch tests: exhaustive search over a power grid, and plan checks."""

from __future__ import annotations

import itertools

import highspy
import numpy as np
from hypothesis import strategies as st

from gridpilot.market.dispatch import Battery, Dispatch, DispatchProblem
from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.dispatch.bounds import step_bounds
from gridpilot.market.dispatch.exclusive import milp_solution
from gridpilot.market.dispatch.program import LinearProgram, build_program

TOLERANCE_KWH = 1e-6


@st.composite
def batteries(draw: st.DrawFn, *, most_efficient: float = 0.99) -> Battery:
    """A random battery of 1-500 kWh, up to 300 kW, with or without a wear cost."""
    low = draw(st.floats(0, 40))
    return Battery(
        capacity_kwh=draw(st.floats(1, 500)),
        max_charge_kw=draw(st.floats(0.5, 300)),
        max_discharge_kw=draw(st.floats(0.5, 300)),
        charge_efficiency=draw(st.floats(0.6, most_efficient)),
        discharge_efficiency=draw(st.floats(0.6, most_efficient)),
        min_soc_pct=low,
        max_soc_pct=draw(st.floats(low + 10, 100)),
        degradation_cost_per_mwh=draw(st.sampled_from([0.0, 2.0])),
    )


def brute_force_cost(problem: DispatchProblem, levels: int) -> float:
    """The cheapest plan whose AC power per step is one of `levels` values per direction (exclusive by design)."""
    battery, hours = problem.battery, problem.step_hours
    powers = np.concatenate(
        [-np.linspace(battery.max_discharge_kw, 0, levels)[:-1], np.linspace(0, battery.max_charge_kw, levels)]
    )
    plans = np.array(list(itertools.product(powers, repeat=problem.steps)))
    stored = np.where(plans > 0, plans * battery.charge_efficiency, plans / battery.discharge_efficiency) * hours
    soc = battery.capacity_kwh * problem.initial_soc_pct / 100 + np.cumsum(stored, axis=1)
    feasible = np.all((soc >= battery.min_kwh - TOLERANCE_KWH) & (soc <= battery.max_kwh + TOLERANCE_KWH), axis=1)
    final = battery.capacity_kwh * (problem.final_soc_pct or problem.initial_soc_pct) / 100
    feasible &= np.abs(soc[:, -1] - final) <= TOLERANCE_KWH
    cost = plans @ problem.prices_per_mwh * hours / 1000 + np.abs(plans).sum(axis=1) * hours * (
        battery.degradation_cost_per_mwh / 1000
    )
    return float(cost[feasible].min())


def settled_cost(dispatch: Dispatch, problem: DispatchProblem) -> float:
    """What the plan costs at the problem's prices, recomputed from its power (arbitrage, no terminal value)."""
    hours = problem.step_hours
    energy = dispatch.net_kw @ problem.prices_per_mwh * hours / 1000
    wear = (dispatch.charge_kw + dispatch.discharge_kw).sum() * hours * problem.battery.degradation_cost_per_mwh / 1000
    return float(energy + wear)


def assert_feasible(dispatch: Dispatch, battery: Battery, final_soc_pct: float | None) -> None:
    """Power within limits, never both directions, SoC consistent with power and within its range."""
    tolerance_pct = 1e-6
    hours = dispatch.step_minutes / 60
    assert np.all(dispatch.charge_kw >= -1e-9) and np.all(dispatch.discharge_kw >= -1e-9)
    assert np.all(dispatch.charge_kw <= battery.max_charge_kw + 1e-7)
    assert np.all(dispatch.discharge_kw <= battery.max_discharge_kw + 1e-7)
    assert np.all(np.minimum(dispatch.charge_kw, dispatch.discharge_kw) <= 1e-7)
    stored = dispatch.charge_kw * battery.charge_efficiency - dispatch.discharge_kw / battery.discharge_efficiency
    moved = stored * hours
    expected = dispatch.soc_pct[0] + np.cumsum(moved) / battery.capacity_kwh * 100
    np.testing.assert_allclose(dispatch.soc_pct[1:], expected, atol=1e-6)
    assert np.all(dispatch.soc_pct[1:] >= battery.min_soc_pct - tolerance_pct)
    assert np.all(dispatch.soc_pct[1:] <= battery.max_soc_pct + tolerance_pct)
    if final_soc_pct is not None:
        assert abs(dispatch.soc_pct[-1] - final_soc_pct) <= 1e-6


def assert_as_good_as_the_every_step_milp(dispatch: Dispatch, program: LinearProgram, every_step: FloatArray) -> None:
    """Never worse than the full MILP beyond HiGHS' tolerances, and a real plan that goes one way per step.

    Then it cannot be better either. HiGHS calls a basis optimal when no reduced cost is below -1e-7 per kWh,
    so an "optimal" plan may leave up to 1e-7 per kWh the other plan moves (e.g. a price of -6e-5 per MWh:
    8e-8 per kWh into the cells, which the LP may leave idle), plus a millionth of a currency unit.
    """
    full_optimum = float(program.cost @ every_step)
    moved_kwh = float(np.abs(every_step[: 2 * program.steps]).sum())
    assert dispatch.objective <= full_optimum + 1e-6 + 1e-7 * (abs(full_optimum) + moved_kwh)
    assert np.all(np.minimum(dispatch.charge_kw, dispatch.discharge_kw) <= 1e-6)


def every_step_milp(problem: DispatchProblem) -> tuple[LinearProgram, highspy.HighsModelStatus, FloatArray | None]:
    """The reference the property tests compare with: the problem's program and its MILP with a binary per step."""
    bounds = step_bounds(problem)
    program = build_program(problem, bounds)
    status, values = milp_solution(program, bounds, every_step=True)
    return program, status, values
