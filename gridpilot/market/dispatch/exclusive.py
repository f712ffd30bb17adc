"""Never charge and discharge in the same step: net the LP's answer where that is free, else a MILP.

An LP step that both charges (energy c into the cells) and discharges (d out of them) can be replaced
by the net move max(c - d, 0) in, max(d - c, 0) out: the SoC path is unchanged, so every limit still
holds, and the battery draws (1/eta_c - eta_d) * min(c, d) less from the grid, with less wear. That
does not raise the cost when energy at that step is worth >= -wear * (1/eta_c + eta_d) / (1/eta_c - eta_d)
(always with non-negative prices, and at any price with lossless conversion). Where netting would cost
money (negative prices with losses: burning energy earns), the netted plan is not optimal and a MILP
with a binary per step (charge allowed / discharge allowed) is solved instead. Netting the grid the
same way is free while import costs at least what export earns.
"""

from __future__ import annotations

import highspy
import numpy as np

from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.dispatch.bounds import StepBounds
from gridpilot.market.dispatch.highs_model import new_highs, pass_program
from gridpilot.market.dispatch.program import LinearProgram

_FEASIBILITY_KWH = 1e-7


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


def milp_solution(program: LinearProgram, bounds: StepBounds) -> tuple[highspy.HighsModelStatus, FloatArray | None]:
    """The exact optimum with a binary per step that allows either charging or discharging (and import or export)."""
    n = program.steps
    highs = new_highs(presolve=True)
    highs.setOptionValue("mip_rel_gap", 0.0)
    highs.setOptionValue("mip_abs_gap", 1e-9)
    pass_program(highs, program)
    pairs = [(0, bounds.charge_max_kwh, n, bounds.discharge_max_kwh)]
    if program.has_site:
        pairs.append((3 * n, program.col_upper[3 * n : 4 * n], 4 * n, program.col_upper[4 * n :]))
    for first, first_max, second, second_max in pairs:
        binaries = highs.getNumCol() + np.arange(n, dtype=np.int32)
        highs.addCols(
            n,
            np.zeros(n),
            np.zeros(n),
            np.ones(n),
            0,
            np.zeros(n, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
            np.zeros(0),
        )
        highs.changeColsIntegrality(n, binaries, np.full(n, int(highspy.HighsVarType.kInteger), dtype=np.uint8))
        steps = np.arange(n, dtype=np.int32)
        # first - first_max * y <= 0 ; second + second_max * y <= second_max
        index = np.concatenate(
            [np.stack([first + steps, binaries], axis=1).ravel(), np.stack([second + steps, binaries], axis=1).ravel()]
        ).astype(np.int32)
        value = np.concatenate(
            [np.stack([np.ones(n), -first_max], axis=1).ravel(), np.stack([np.ones(n), second_max], axis=1).ravel()]
        )
        upper = np.concatenate([np.zeros(n), second_max])
        starts = np.arange(0, 4 * n, 2, dtype=np.int32)
        highs.addRows(2 * n, np.full(2 * n, -highspy.kHighsInf), upper, 4 * n, starts, index, value)
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        return status, None
    values = np.asarray(highs.getSolution().col_value, dtype=np.float64)[: program.num_col]
    return status, values
