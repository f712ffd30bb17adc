"""The dispatch LP as plain sparse arrays (column-wise), built without a modelling layer: it is most of the cost.

Columns, n steps each: energy into the cells per step, energy out of them per step, stored energy after
the step, and with a site the energy imported and exported per step. Rows: the energy balance of the
cells per step, and with a site the balance at the meter per step. Working in energy into / out of the
cells keeps the arbitrage matrix free of efficiencies and step length, so one structure serves every
battery with the same number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.dispatch.bounds import StepBounds
from gridpilot.market.dispatch.problem import DispatchProblem

IntArray = npt.NDArray[np.int32]
StructureKey = tuple[int, float, float] | tuple[int]
KWH_PER_MWH = 1000.0


@dataclass(frozen=True, slots=True, eq=False)
class LinearProgram:
    """Everything HiGHS needs, as arrays; the matrix is shared between programs of the same structure."""

    key: StructureKey
    steps: int
    cost: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    start: IntArray
    index: IntArray
    value: FloatArray

    @property
    def num_col(self) -> int:
        """The number of columns."""
        return int(self.cost.size)

    @property
    def num_row(self) -> int:
        """The number of rows."""
        return int(self.row_lower.size)

    @property
    def has_site(self) -> bool:
        """True when the program has grid import and export columns."""
        return len(self.key) == 3


def structure_key(problem: DispatchProblem) -> StructureKey:
    """Programs with equal keys have equal matrices and differ only in costs and bounds."""
    if problem.site is None:
        return (problem.steps,)
    return (problem.steps, problem.battery.charge_efficiency, problem.battery.discharge_efficiency)


def build_program(problem: DispatchProblem, bounds: StepBounds) -> LinearProgram:
    """The LP of one problem: costs and bounds from its data, the matrix from the cache."""
    battery, n, hours = problem.battery, problem.steps, problem.step_hours
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    key = structure_key(problem)
    start, index, value = _matrix(key)
    wear = battery.degradation_cost_per_mwh / KWH_PER_MWH
    zeros = np.zeros(n)
    if problem.site is None:
        price = problem.prices_per_mwh / KWH_PER_MWH
        costs = [(price + wear) / eta_c, (wear - price) * eta_d, zeros]
        lower = [zeros, zeros, bounds.soc_min_kwh]
        upper = [bounds.charge_max_kwh, bounds.discharge_max_kwh, bounds.soc_max_kwh]
        row_lower = np.zeros(n)
        row_upper = np.zeros(n)
    else:
        site = problem.site
        net_kw = site.load_kw - site.pv_kw
        import_kw = np.maximum(net_kw, 0.0) + battery.max_charge_kw
        export_kw = np.maximum(-net_kw, 0.0) + battery.max_discharge_kw
        if site.grid_limit_kw is not None:
            import_kw = np.minimum(import_kw, site.grid_limit_kw)
            export_kw = np.minimum(export_kw, site.grid_limit_kw)
        costs = [
            np.full(n, wear / eta_c),
            np.full(n, wear * eta_d),
            zeros,
            problem.prices_per_mwh / KWH_PER_MWH,
            -site.export_price_per_mwh / KWH_PER_MWH,
        ]
        lower = [zeros, zeros, bounds.soc_min_kwh, zeros, zeros]
        upper = [
            bounds.charge_max_kwh,
            bounds.discharge_max_kwh,
            bounds.soc_max_kwh,
            import_kw * hours,
            export_kw * hours,
        ]
        row_lower = np.concatenate([zeros, net_kw * hours])
        row_upper = row_lower.copy()
    row_lower[0] = row_upper[0] = bounds.initial_kwh
    cost = np.concatenate(costs)
    if problem.terminal_value_per_mwh is not None:
        cost[3 * n - 1] -= problem.terminal_value_per_mwh / KWH_PER_MWH
    return LinearProgram(
        key, n, cost, np.concatenate(lower), np.concatenate(upper), row_lower, row_upper, start, index, value
    )


@lru_cache(maxsize=64)
def _matrix(key: StructureKey) -> tuple[IntArray, IntArray, FloatArray]:
    """The column-wise matrix of a structure (start, index, value), built once per structure."""
    n = key[0]
    steps = np.arange(n, dtype=np.int32)
    site = len(key) == 3
    # cells: -charge + discharge + soc[t] - soc[t-1] = 0 (the initial SoC is row 0's bound)
    charge_rows = [steps, steps + n] if site else [steps]
    charge_values = [-np.ones(n), np.full(n, -1.0 / key[1])] if len(key) == 3 else [-np.ones(n)]
    discharge_values = [np.ones(n), np.full(n, key[2])] if len(key) == 3 else [np.ones(n)]
    per_column: list[tuple[IntArray, FloatArray]] = []
    per_column.append(_interleave(charge_rows, charge_values))
    per_column.append(_interleave(charge_rows, discharge_values))
    soc_index = np.stack([steps, steps + 1], axis=1).ravel()[:-1]
    soc_value = np.tile([1.0, -1.0], n)[:-1]
    soc_counts = np.full(n, 2, dtype=np.int32)
    soc_counts[-1] = 1
    # meter (site only): import - export - charge/eta_c + discharge*eta_d = (load - pv) * hours
    counts = [np.full(n, len(charge_rows), dtype=np.int32)] * 2 + [soc_counts]
    indices = [per_column[0][0], per_column[1][0], soc_index.astype(np.int32)]
    values = [per_column[0][1], per_column[1][1], soc_value]
    if site:
        for sign in (1.0, -1.0):
            counts.append(np.ones(n, dtype=np.int32))
            indices.append(steps + n)
            values.append(np.full(n, sign))
    start = np.zeros(sum(c.size for c in counts) + 1, dtype=np.int32)
    start[1:] = np.cumsum(np.concatenate(counts))
    index = np.concatenate(indices).astype(np.int32)
    value = np.concatenate(values)
    for array in (start, index, value):
        array.flags.writeable = False
    return start, index, value


def _interleave(rows: list[IntArray], values: list[FloatArray]) -> tuple[IntArray, FloatArray]:
    """Entries of columns that each have one entry in every block of rows, column by column."""
    return np.stack(rows, axis=1).ravel().astype(np.int32), np.stack(values, axis=1).ravel()
