"""Constraint satisfaction on random batteries and prices, and schedules the validator always accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridpilot.market.dispatch import Battery, DispatchProblem, Method, Solver, to_schedule
from gridpilot.protocol import soc_trajectory, validate_schedule
from tests.market.dispatch.checks import assert_feasible, settled_cost

NOW = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
SOLVER = Solver()


@st.composite
def problems(draw: st.DrawFn) -> DispatchProblem:
    low = draw(st.floats(0, 60))
    battery = Battery(
        capacity_kwh=draw(st.floats(0.5, 5000)),
        max_charge_kw=draw(st.floats(0.1, 3000)),
        max_discharge_kw=draw(st.floats(0.1, 3000)),
        charge_efficiency=draw(st.floats(0.6, 1.0)),
        discharge_efficiency=draw(st.floats(0.6, 1.0)),
        min_soc_pct=low,
        max_soc_pct=draw(st.floats(low, 100)),
        degradation_cost_per_mwh=draw(st.sampled_from([0.0, 0.5, 5.0])),
    )
    step = draw(st.sampled_from([15.0, 30.0, 60.0]))
    steps = draw(st.integers(1, 48))
    prices = np.array(draw(st.lists(st.floats(-150, 400), min_size=steps, max_size=steps)))
    initial = draw(st.floats(-10, 110))
    final = draw(st.one_of(st.none(), st.floats(0, 100)))
    return DispatchProblem(battery, prices, step, initial, final_soc_pct=final)


@settings(max_examples=150, deadline=None)
@given(problems())
def test_every_plan_keeps_the_battery_limits_and_its_cost(problem: DispatchProblem) -> None:
    dispatch = SOLVER.solve(problem)

    assert dispatch.method is not Method.IDLE
    battery = problem.battery
    inside = battery.min_soc_pct <= problem.initial_soc_pct <= battery.max_soc_pct
    assert_feasible_from(dispatch, battery, inside)
    np.testing.assert_allclose(dispatch.objective, settled_cost(dispatch, problem), atol=1e-6)
    if inside and not dispatch.warnings and problem.final_soc_pct is not None:
        assert abs(dispatch.soc_pct[-1] - problem.final_soc_pct) <= 1e-6


def assert_feasible_from(dispatch, battery: Battery, inside: bool) -> None:  # type: ignore[no-untyped-def]
    if inside:
        assert_feasible(dispatch, battery, None)
        return
    # Outside the range the battery first moves back in at full power, then stays within it.
    assert np.all(np.minimum(dispatch.charge_kw, dispatch.discharge_kw) <= 1e-7)
    back = np.flatnonzero(
        (dispatch.soc_pct >= battery.min_soc_pct - 1e-6) & (dispatch.soc_pct <= battery.max_soc_pct + 1e-6)
    )
    if back.size:
        assert np.all(dispatch.soc_pct[back[0] :] >= battery.min_soc_pct - 1e-6)
        assert np.all(dispatch.soc_pct[back[0] :] <= battery.max_soc_pct + 1e-6)


@settings(max_examples=150, deadline=None)
@given(problems())
def test_the_schedule_always_passes_the_protocol_validator(problem: DispatchProblem) -> None:
    dispatch = SOLVER.solve(problem)
    schedule = to_schedule(dispatch, battery=problem.battery, device_id="battery-1", start=NOW)
    if schedule is None:  # every step rounded away (under half a watt) or floored at a SoC limit (under a watt)
        assert np.all(np.abs(dispatch.net_kw) < 0.001 + 1e-9)
        return

    result = validate_schedule(
        schedule.to_json(), now=NOW, limits=problem.battery.limits(), soc_pct=problem.initial_soc_pct
    )

    assert result.ok, result.violations
    assert result.schedule == schedule
    path = soc_trajectory(problem.initial_soc_pct, schedule.intervals, problem.battery.limits())
    battery, hours = problem.battery, problem.step_hours
    # A step's rate is rounded to the watt (off by half a watt at most), or floored to the watt where it is
    # trimmed to end on a SoC limit (off by a whole watt at most).
    rounding_pct = problem.steps * 0.001 * hours / battery.capacity_kwh * 100 / battery.discharge_efficiency
    assert abs(path[-1] - dispatch.soc_pct[-1]) <= rounding_pct + 1e-6
