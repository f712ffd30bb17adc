"""Binaries only where netting may cost: the same optimum as a binary on every step, on random problems."""

from __future__ import annotations

import highspy
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridpilot.market.dispatch import Battery, DispatchProblem, Method, Site, optimize
from gridpilot.market.dispatch.bounds import step_bounds
from gridpilot.market.dispatch.exclusive import steps_where_netting_may_cost
from gridpilot.market.dispatch.program import build_program
from tests.market.dispatch.checks import assert_as_good_as_the_every_step_milp, batteries, every_step_milp


def test_a_battery_alone_needs_a_binary_only_where_burning_energy_earns() -> None:
    battery = Battery(100, 40, 40, 0.9, 0.9, 0, 100, degradation_cost_per_mwh=1.0)
    # Netting a kWh both ways saves (price + wear)/0.9 + (wear - price) * 0.9 per kWh: negative only
    # below -wear * (1/0.9 + 0.9) / (1/0.9 - 0.9) = -9.53 EUR/MWh.
    problem = DispatchProblem(battery, np.array([-100.0, -9.0, -10.0, 0.0, 50.0]), 60, 50)

    (cells,) = steps_where_netting_may_cost(build_program(problem, step_bounds(problem)))

    assert cells.tolist() == [True, False, True, False, False]


def test_a_site_needs_a_grid_binary_where_export_pays_more_than_import_costs() -> None:
    battery = Battery(10, 5, 5, 0.95, 0.95, 10, 90)
    site = Site(np.ones(3), np.zeros(3), np.array([30.0, 80.0, -20.0]))
    problem = DispatchProblem(battery, np.array([50.0, 50.0, 10.0]), 60, 50, site=site)

    cells, grid = steps_where_netting_may_cost(build_program(problem, step_bounds(problem)))

    assert cells.tolist() == [False, False, True]
    assert grid.tolist() == [False, True, False]


@st.composite
def problems_where_netting_may_cost(draw: st.DrawFn) -> DispatchProblem:
    battery = draw(batteries())
    steps = draw(st.integers(2, 24))
    prices = np.array(draw(st.lists(st.floats(-200, 150), min_size=steps, max_size=steps)))
    site = None
    if draw(st.booleans()):
        load = np.array(draw(st.lists(st.floats(0, 200), min_size=steps, max_size=steps)))
        pv = np.array(draw(st.lists(st.floats(0, 200), min_size=steps, max_size=steps)))
        export = np.array(draw(st.lists(st.floats(-100, 200), min_size=steps, max_size=steps)))
        limit = draw(st.one_of(st.none(), st.floats(250, 800)))
        site = Site(load, pv, export, grid_limit_kw=limit)
    initial = draw(st.floats(battery.min_soc_pct, battery.max_soc_pct))
    return DispatchProblem(battery, prices, draw(st.sampled_from([15.0, 60.0])), initial, site=site)


@settings(max_examples=120, deadline=None)
@given(problems_where_netting_may_cost())
def test_the_optimum_equals_the_milp_with_a_binary_on_every_step(problem: DispatchProblem) -> None:
    dispatch = optimize(problem)
    program, status, every_step = every_step_milp(problem)
    if status != highspy.HighsModelStatus.kOptimal or every_step is None:
        assert dispatch.warnings
        return

    assert dispatch.method is not Method.IDLE
    assert_as_good_as_the_every_step_milp(dispatch, program, every_step)
    if dispatch.grid_import_kw is not None and dispatch.grid_export_kw is not None:
        assert np.all(np.minimum(dispatch.grid_import_kw, dispatch.grid_export_kw) <= 1e-6)
