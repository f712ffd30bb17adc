"""Never charge and discharge in the same step: net the LP's answer where that is free, else a MILP.

An LP step that both charges (energy c into the cells) and discharges (d out of them) can be replaced
by the net move max(c - d, 0) in, max(d - c, 0) out: the SoC path is unchanged, so every limit still
holds, and the battery draws (1/eta_c - eta_d) * min(c, d) less from the grid, with less wear. That
does not raise the cost when energy at that step is worth >= -wear * (1/eta_c + eta_d) / (1/eta_c - eta_d)
(always with non-negative prices, and at any price with lossless conversion). Where netting would cost
money (negative prices with losses: burning energy earns), the netted plan is not optimal: a battery alone
then goes to hull.py's branch and bound, and a site (or a battery on which that gives up) to a MILP with a
binary per step (charge allowed / discharge allowed). Netting the grid the
same way is free while import costs at least what export earns.

The MILP needs a binary only where netting may cost money (usually a few negative-price hours): its
other steps are netted afterwards. That MILP relaxes the one with a binary on every step, so when
netting its answer keeps every limit and costs nothing, the netted plan is optimal for the full
problem too; otherwise (a grid limit in the way) the full MILP is solved.
"""

from __future__ import annotations

import highspy
import numpy as np
import numpy.typing as npt

from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.dispatch.bounds import StepBounds
from gridpilot.market.dispatch.highs_model import HighsSolver, new_highs, pass_program
from gridpilot.market.dispatch.program import LinearProgram

_FEASIBILITY_KWH = 1e-7
_EXACT_SMALL_MIP: dict[str, bool | float] = {
    "mip_rel_gap": 0.0,
    "mip_abs_gap": 1e-9,
    "mip_allow_restart": False,
    "mip_heuristic_run_feasibility_jump": False,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_zi_round": False,
    "mip_heuristic_run_shifting": False,
}
"""Proved optimal, no gap. Primal heuristics, sub-MIPs and restarts cost more than branching on a handful of
binaries (PJM's negative-price days: 6.5 ms median with HiGHS' defaults, 1.5 ms with these and no presolve)."""


def netted(program: LinearProgram, values: FloatArray, *, force: bool = False) -> FloatArray | None:
    """The same plan with each step's charge and discharge netted (grid too); None if that breaks a grid limit."""
    n = program.steps
    fixed = values.copy()
    net = values[:n] - values[n : 2 * n]
    fixed[:n] = np.maximum(net, 0.0)
    fixed[n : 2 * n] = np.maximum(-net, 0.0)
    if not program.has_site:
        return fixed
    eta_c, eta_d = float(program.key[1]), float(program.key[2])  # type: ignore[misc]
    grid = program.row_lower[n:] + fixed[:n] / eta_c - fixed[n : 2 * n] * eta_d
    fixed[3 * n : 4 * n] = np.maximum(grid, 0.0)
    fixed[4 * n :] = np.maximum(-grid, 0.0)
    over = fixed[3 * n :] > program.col_upper[3 * n :] + _FEASIBILITY_KWH
    if np.any(over) and not force:
        return None
    return fixed


def both_ways(program: LinearProgram, values: FloatArray) -> bool:
    """True when some step of the plan charges and discharges (or imports and exports) at once."""
    n = program.steps
    pairs = [(values[:n], values[n : 2 * n])]
    if program.has_site:
        pairs.append((values[3 * n : 4 * n], values[4 * n :]))
    return any(bool(np.any(np.minimum(a, b) > _FEASIBILITY_KWH)) for a, b in pairs)


def steps_where_netting_may_cost(program: LinearProgram) -> list[npt.NDArray[np.bool_]]:
    """Per pair (cells, then grid with a site): the steps where netting both ways may raise the cost.

    Netting m both ways at the cells changes the cost by -m * (cost in + cost out), plus, with a site,
    the value of the (1/eta_c - eta_d) * m left over at the meter, worth at least the lower of the
    import and export price. Netting import and export changes it by -m * (import price - export price).
    """
    n = program.steps
    cells = program.cost[:n] + program.cost[n : 2 * n]
    if not program.has_site:
        return [cells < 0.0]
    eta_c, eta_d = float(program.key[1]), float(program.key[2])  # type: ignore[misc]
    import_cost, export_earning = program.cost[3 * n : 4 * n], -program.cost[4 * n :]
    surplus_value = np.minimum(import_cost, export_earning) * (1.0 / eta_c - eta_d)
    return [cells + surplus_value < 0.0, import_cost < export_earning]


def milp_solution(
    program: LinearProgram, bounds: StepBounds, *, every_step: bool = False
) -> tuple[highspy.HighsModelStatus, FloatArray | None]:
    """The optimum with a binary allowing either charging or discharging (and import or export) per step.

    Binaries go only on the steps where netting may cost money, unless every_step: net the answer
    (netted) and check it against this MILP's objective before trusting it as the full optimum.
    """
    n = program.steps
    highs = new_highs(presolve=False)
    for option, value in _EXACT_SMALL_MIP.items():
        highs.setOptionValue(option, value)
    pass_program(highs, program)
    pairs = [(0, bounds.charge_max_kwh, n, bounds.discharge_max_kwh)]
    if program.has_site:
        pairs.append((3 * n, program.col_upper[3 * n : 4 * n], 4 * n, program.col_upper[4 * n :]))
    masks = steps_where_netting_may_cost(program)
    for (first, first_max, second, second_max), mask in zip(pairs, masks, strict=True):
        steps = np.arange(n, dtype=np.int32) if every_step else np.flatnonzero(mask).astype(np.int32)
        if steps.size:
            _add_exclusive_binaries(highs, steps, first + steps, first_max[steps], second + steps, second_max[steps])
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        return status, None
    values = np.asarray(highs.getSolution().col_value, dtype=np.float64)[: program.num_col]
    return status, values


def _add_exclusive_binaries(
    highs: HighsSolver,
    steps: npt.NDArray[np.int32],
    first: npt.NDArray[np.int32],
    first_max: FloatArray,
    second: npt.NDArray[np.int32],
    second_max: FloatArray,
) -> None:
    """A binary y per step with first <= first_max * y and second <= second_max * (1 - y)."""
    k = steps.size
    binaries = highs.getNumCol() + np.arange(k, dtype=np.int32)
    highs.addCols(
        k,
        np.zeros(k),
        np.zeros(k),
        np.ones(k),
        0,
        np.zeros(k, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros(0),
    )
    highs.changeColsIntegrality(k, binaries, np.full(k, int(highspy.HighsVarType.kInteger), dtype=np.uint8))
    # first - first_max * y <= 0 ; second + second_max * y <= second_max
    index = np.concatenate(
        [np.stack([first, binaries], axis=1).ravel(), np.stack([second, binaries], axis=1).ravel()]
    ).astype(np.int32)
    value = np.concatenate(
        [np.stack([np.ones(k), -first_max], axis=1).ravel(), np.stack([np.ones(k), second_max], axis=1).ravel()]
    )
    upper = np.concatenate([np.zeros(k), second_max])
    starts = np.arange(0, 4 * k, 2, dtype=np.int32)
    highs.addRows(2 * k, np.full(2 * k, -highspy.kHighsInf), upper, 4 * k, starts, index, value)
