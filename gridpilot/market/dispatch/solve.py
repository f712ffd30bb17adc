"""Solving the dispatch LP with HiGHS, reusing one solver per problem structure across batteries."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import highspy
import numpy as np

from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.dispatch.bounds import StepBounds, step_bounds
from gridpilot.market.dispatch.exclusive import both_ways, milp_solution, netted, steps_where_netting_may_cost
from gridpilot.market.dispatch.highs_model import HighsSolver, new_highs, pass_program
from gridpilot.market.dispatch.hull import HullKey, hull_key, new_hull_model, solve_exactly
from gridpilot.market.dispatch.problem import DispatchProblem
from gridpilot.market.dispatch.program import LinearProgram, StructureKey, build_program
from gridpilot.market.dispatch.result import Dispatch, Method

_CACHED_STRUCTURES = 32
_OPTIMAL = highspy.HighsModelStatus.kOptimal


class Solver:
    """Solves dispatch problems, keeping one HiGHS model per structure and changing only costs and bounds.

    With warm_start the previous optimal basis of the same structure is the starting point (faster on
    similar days); without it each solve starts cold and gives exactly what a fresh build gives. Not
    thread-safe: use one Solver per thread or process.
    """

    def __init__(self, *, warm_start: bool = True) -> None:
        self.warm_start = warm_start
        self._models: OrderedDict[StructureKey | HullKey, HighsSolver] = OrderedDict()

    def solve(self, problem: DispatchProblem) -> Dispatch:
        """The optimal plan for the problem, or a best effort with warnings; never raises on infeasible data."""
        bounds = step_bounds(problem)
        warnings = list(bounds.warnings)
        program = build_program(problem, bounds)
        status, values = self._solve_lp(program)
        if status != _OPTIMAL and problem.site is not None and problem.site.grid_limit_kw is not None:
            warnings.append(
                f"no plan keeps the grid within {problem.site.grid_limit_kw:g} kW ({status_text(status)}): "
                "planned without the grid limit"
            )
            unlimited = replace(problem, site=replace(problem.site, grid_limit_kw=None))
            program = build_program(unlimited, bounds)
            status, values = self._solve_lp(program)
        if status != _OPTIMAL:
            warnings.append(f"the solver found no optimum ({status_text(status)}): the battery stays idle")
            return _idle(problem, bounds, status_text(status), warnings)
        lp_objective = float(program.cost @ values)
        fixed = netted(program, values)
        method = Method.LP_FIXUP if both_ways(program, values) else Method.LP
        if fixed is None or _costs_more(program, fixed, lp_objective):
            exact = None if program.has_site else self._branch_and_bound(program, bounds)
            if exact is not None:
                return _dispatch(problem, program, exact, "Optimal", Method.BRANCH_AND_BOUND, warnings)
            status, fixed = _exclusive_optimum(program, bounds)
            if fixed is None:
                warnings.append(f"the MILP found no optimum ({status_text(status)}): the battery stays idle")
                return _idle(problem, bounds, status_text(status), warnings)
            method = Method.MILP
        return _dispatch(problem, program, fixed, status_text(status), method, warnings)

    def _branch_and_bound(self, program: LinearProgram, bounds: StepBounds) -> FloatArray | None:
        """A battery alone: the exact optimum from the hull LP and branching (hull.py), or None for the MILP."""
        (may_cost,) = steps_where_netting_may_cost(program)
        key = hull_key(program, bounds)
        highs, _ = self._cached(key, lambda: new_hull_model(key))
        return solve_exactly(highs, program, bounds, may_cost, cold=not self.warm_start)

    def _cached(self, key: StructureKey | HullKey, build: Callable[[], HighsSolver]) -> tuple[HighsSolver, bool]:
        """The model of a structure, built on first use; True when it was built now."""
        highs = self._models.get(key)
        if highs is not None:
            self._models.move_to_end(key)
            return highs, False
        highs = self._models[key] = build()
        if len(self._models) > _CACHED_STRUCTURES:
            self._models.popitem(last=False)
        return highs, True

    def _solve_lp(self, program: LinearProgram) -> tuple[highspy.HighsModelStatus, FloatArray]:
        highs, built = self._cached(program.key, lambda: _new_lp(program))
        if not built:
            columns = np.arange(program.num_col, dtype=np.int32)
            highs.changeColsCost(program.num_col, columns, program.cost)
            highs.changeColsBounds(program.num_col, columns, program.col_lower, program.col_upper)
            rows = np.arange(program.num_row, dtype=np.int32)
            highs.changeRowsBounds(  # type: ignore[attr-defined]  # missing from highspy's stubs
                program.num_row, rows, program.row_lower, program.row_upper
            )
            if not self.warm_start:
                highs.clearSolver()
        highs.run()
        status = highs.getModelStatus()
        if status != _OPTIMAL:
            highs.clearSolver()
            return status, np.zeros(program.num_col)
        return status, np.asarray(highs.getSolution().col_value, dtype=np.float64)


def _new_lp(program: LinearProgram) -> HighsSolver:
    highs = new_highs(presolve=False)
    pass_program(highs, program)
    return highs


def _costs_more(program: LinearProgram, values: FloatArray, objective: float) -> bool:
    """True when the plan costs more than the objective, beyond the solver's tolerance."""
    return float(program.cost @ values) > objective + 1e-9 * (1.0 + abs(objective))


def _exclusive_optimum(
    program: LinearProgram, bounds: StepBounds
) -> tuple[highspy.HighsModelStatus, FloatArray | None]:
    """The optimum that never goes both ways in a step: binaries where netting may cost, every step if need be."""
    status, values = milp_solution(program, bounds)
    if status == _OPTIMAL and values is not None:
        fixed = netted(program, values)
        if fixed is not None and not _costs_more(program, fixed, float(program.cost @ values)):
            return status, fixed
    status, values = milp_solution(program, bounds, every_step=True)
    if status != _OPTIMAL or values is None:
        return status, None
    return status, netted(program, values, force=True)


def optimize(problem: DispatchProblem, *, solver: Solver | None = None) -> Dispatch:
    """The optimal dispatch of one battery; pass a Solver to reuse structures across many calls."""
    return (solver or Solver()).solve(problem)


def status_text(status: highspy.HighsModelStatus) -> str:
    """HiGHS's model status in words (e.g. 'Optimal', 'Infeasible')."""
    return status.name.removeprefix("k")


def _dispatch(
    problem: DispatchProblem,
    program: LinearProgram,
    values: FloatArray,
    status: str,
    method: Method,
    warnings: list[str],
) -> Dispatch:
    battery, n, hours = problem.battery, problem.steps, problem.step_hours
    stored = np.concatenate([[program.row_lower[0]], values[2 * n : 3 * n]])
    grid_import = grid_export = None
    if program.has_site:
        grid_import = values[3 * n : 4 * n] / hours
        grid_export = values[4 * n : 5 * n] / hours
    return Dispatch(
        charge_kw=values[:n] / (battery.charge_efficiency * hours),
        discharge_kw=values[n : 2 * n] * battery.discharge_efficiency / hours,
        soc_pct=stored / battery.capacity_kwh * 100.0,
        grid_import_kw=grid_import,
        grid_export_kw=grid_export,
        objective=float(program.cost @ values),
        status=status,
        method=method,
        step_minutes=problem.step_minutes,
        warnings=tuple(warnings),
    )


def _idle(problem: DispatchProblem, bounds: StepBounds, status: str, warnings: list[str]) -> Dispatch:
    n = problem.steps
    zeros = np.zeros(n)
    soc = np.full(n + 1, bounds.initial_kwh / problem.battery.capacity_kwh * 100.0)
    site = problem.site
    grid_import = grid_export = None
    cost = 0.0
    if site is not None:
        net = site.load_kw - site.pv_kw
        grid_import, grid_export = np.maximum(net, 0.0), np.maximum(-net, 0.0)
        hours = problem.step_hours
        cost = float(problem.prices_per_mwh @ grid_import - site.export_price_per_mwh @ grid_export) * hours / 1000.0
    return Dispatch(
        zeros,
        zeros.copy(),
        soc,
        grid_import,
        grid_export,
        cost,
        status,
        Method.IDLE,
        problem.step_minutes,
        tuple(warnings),
    )
