"""A battery alone whose netted LP plan costs more: exact by branch and bound on a tight LP, without a MILP.

At a step with a negative enough price the LP earns by charging and discharging at once, which a battery
cannot do: each step must choose to charge or to discharge. The usual relaxation of that choice,
c/C + d/D <= 1, still lets the LP burn energy at half rate. This LP describes instead each step's choice
with the SoC around it (Balas' disjunctive programming): a weight lam of the charging branch, and the
charging branch's share p of the SoC before the step, such that

    charging branch    lo * lam <= p <= hi * lam,              0 <= c <= C * lam,        lo * lam <= p + c <= hi * lam
    discharging branch lo * (1 - lam) <= s_before - p <= hi * (1 - lam),  0 <= d <= D * (1 - lam),
                       lo * (1 - lam) <= s_before - p - d <= hi * (1 - lam)

This is the convex hull of the step's two choices: a battery full before the step cannot burn energy in
it, as it could under c/C + d/D <= 1. With lam at 0 or 1 it is the choice itself, so branching on a
fractional lam is exact. Four of these inequalities follow from the others with c, d >= 0 and are left out:
lo * lam <= p + c, p <= hi * lam, s_before - p - d <= hi * (1 - lam), lo * (1 - lam) <= s_before - p.
Its optimum is already exact on most days that need it (8 of PJM's 14 test days); branching on the step
that burns most closes the rest in two or four warm re-solves. On a step where netting is free the
hull changes nothing (a netted plan lies in it), so every step has the rows and one model per battery
serves every day, changing only costs and bounds. A site's grid choice is left to the MILP.

Columns: the program's (charge, discharge, stored after each step), then lam and p per step, then the
stored energy before the first step (fixed by its bounds). lo and hi bound the stored energy at every
step of the problem, so the rows hold for every plan the program allows.
"""

from __future__ import annotations

import highspy
import numpy as np
import numpy.typing as npt

from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.dispatch.bounds import StepBounds
from gridpilot.market.dispatch.exclusive import netted
from gridpilot.market.dispatch.highs_model import HighsSolver, new_highs
from gridpilot.market.dispatch.program import LinearProgram

HullKey = tuple[int, float, float, float, float]
"""Steps, most energy into and out of the cells per step, lowest and highest stored energy."""
MAX_NODES = 64
"""LPs solved before giving up to the MILP; PJM's negative-price days need 1 to 5."""
_DUAL_TOLERANCE = 1e-9
"""HiGHS' default 1e-7 applies to scaled reduced costs; on this model it let a gain of 7e-6 per kWh go unseen
(a 1 kWh battery earning 1e-6 over a quarter-hour's spread of 0.008 per MWh)."""
_BURN_KWH = 1e-9
_INF = highspy.kHighsInf
_OPTIMAL = highspy.HighsModelStatus.kOptimal
_INFEASIBLE = highspy.HighsModelStatus.kInfeasible


def hull_key(program: LinearProgram, bounds: StepBounds) -> HullKey:
    """The model's identity: its matrix depends on the battery's limits, not on prices or the day's SoC."""
    low = min(float(bounds.soc_min_kwh.min()), bounds.initial_kwh)
    high = max(float(bounds.soc_max_kwh.max()), bounds.initial_kwh)
    return (
        program.steps,
        float(bounds.charge_max_kwh.max()),
        float(bounds.discharge_max_kwh.max()),
        low,
        high,
    )


def new_hull_model(key: HullKey) -> HighsSolver:
    """The hull LP of a battery alone over n steps, with zero costs: solve_exactly sets them."""
    n, most_in, most_out, low, high = key
    steps = np.arange(n)
    charge, discharge, stored, lam, share = steps, n + steps, 2 * n + steps, 3 * n + steps, 4 * n + steps
    before = np.concatenate([[5 * n], stored[:-1]])  # stored energy before each step
    blocks: list[tuple[float, float, list[tuple[npt.NDArray[np.int64], float]]]] = [
        (-_INF, 0.0, [(charge, 1.0), (lam, -most_in)]),
        (-_INF, most_out, [(discharge, 1.0), (lam, most_out)]),
        (0.0, _INF, [(share, 1.0), (lam, -low)]),
        (-_INF, 0.0, [(share, 1.0), (charge, 1.0), (lam, -high)]),
        (low, _INF, [(stored, 1.0), (share, -1.0), (charge, -1.0), (lam, low)]),
        (-_INF, high, [(before, 1.0), (share, -1.0), (lam, high)]),
    ]
    balance = [(charge, -1.0), (discharge, 1.0), (stored, 1.0), (before, -1.0)]
    rows = [(0.0, 0.0, balance), *blocks]
    lp = highspy.HighsLp()
    lp.num_col_ = 5 * n + 1
    lp.num_row_ = n * len(rows)
    lp.col_cost_ = np.zeros(lp.num_col_)
    lp.col_lower_ = np.full(lp.num_col_, -_INF)
    lp.col_upper_ = np.full(lp.num_col_, _INF)
    lp.row_lower_ = np.concatenate([np.full(n, lower) for lower, _, _ in rows])
    lp.row_upper_ = np.concatenate([np.full(n, upper) for _, upper, _ in rows])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = lp.num_col_
    lp.a_matrix_.num_row_ = lp.num_row_
    index = np.concatenate([np.stack([columns for columns, _ in terms], axis=1).ravel() for _, _, terms in rows])
    value = np.concatenate([np.tile([v for _, v in terms], n) for _, _, terms in rows])
    widths = np.concatenate([np.full(n, len(terms)) for _, _, terms in rows])
    lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(widths)]).astype(np.int32)
    lp.a_matrix_.index_ = index.astype(np.int32)
    lp.a_matrix_.value_ = value.astype(np.float64)
    highs = new_highs(presolve=False)
    highs.setOptionValue("dual_feasibility_tolerance", _DUAL_TOLERANCE)
    highs.passModel(lp)
    return highs


def solve_exactly(
    highs: HighsSolver,
    program: LinearProgram,
    bounds: StepBounds,
    may_cost: npt.NDArray[np.bool_],
    *,
    cold: bool = False,
) -> FloatArray | None:
    """The program's optimum that never charges and discharges in one step, or None (then use the MILP).

    Depth first, charging branch first; a node is pruned when its LP costs no less than the best plan
    found, and solved when netting its LP plan costs no more than the LP; an infeasible branch is dropped.
    None after MAX_NODES LPs, or when an LP ends otherwise without an optimum.
    """
    n = program.steps
    _set_day(highs, program, bounds)
    if cold:
        highs.clearSolver()
    lam = np.arange(3 * n, 4 * n, dtype=np.int32)
    best_cost, best = np.inf, None
    pending: list[dict[int, float]] = [{}]
    for _ in range(MAX_NODES):
        if not pending:
            return best
        fixed = pending.pop()
        lower, upper = np.zeros(n), np.ones(n)
        for step, side in fixed.items():
            lower[step] = upper[step] = side
        highs.changeColsBounds(n, lam, lower, upper)
        highs.run()
        status = highs.getModelStatus()
        if status == _INFEASIBLE and fixed:  # no plan takes this branch
            continue
        if status != _OPTIMAL:
            highs.clearSolver()
            return None
        bound = highs.getInfo().objective_function_value
        if bound >= best_cost - _tolerance(best_cost):
            continue
        values = np.asarray(highs.getSolution().col_value, dtype=np.float64)[: 3 * n]
        plan = netted(program, values)
        if plan is None:
            return None
        cost = float(program.cost @ plan)
        if cost < best_cost:
            best_cost, best = cost, plan
        if cost <= bound + _tolerance(bound):
            continue
        burn = np.where(may_cost, np.minimum(values[:n], values[n : 2 * n]), 0.0)
        step = int(np.argmax(burn))
        if burn[step] <= _BURN_KWH:
            return None
        pending += [{**fixed, step: 0.0}, {**fixed, step: 1.0}]
    return best if not pending else None


def _set_day(highs: HighsSolver, program: LinearProgram, bounds: StepBounds) -> None:
    """The day's costs and bounds on the cached model: the program's columns, free lam and p, the initial SoC."""
    n = program.steps
    columns = np.arange(5 * n + 1, dtype=np.int32)
    cost = np.concatenate([program.cost, np.zeros(2 * n + 1)])
    lower = np.concatenate([program.col_lower, np.zeros(n), np.full(n, -_INF), [bounds.initial_kwh]])
    upper = np.concatenate([program.col_upper, np.ones(n), np.full(n, _INF), [bounds.initial_kwh]])
    highs.changeColsCost(columns.size, columns, cost)
    highs.changeColsBounds(columns.size, columns, lower, upper)


def _tolerance(objective: float) -> float:
    return 1e-9 * (1.0 + abs(objective)) if np.isfinite(objective) else 0.0
