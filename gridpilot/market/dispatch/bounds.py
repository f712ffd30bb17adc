"""Per-step limits that are always satisfiable: a best effort, with a warning, when the inputs are not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.dispatch.problem import DispatchProblem

_SLACK_KWH = 1e-9


@dataclass(frozen=True, slots=True, eq=False)
class StepBounds:
    """Energy per step into the cells (charge), out of them (discharge), and the stored energy after each step."""

    charge_max_kwh: FloatArray
    discharge_max_kwh: FloatArray
    soc_min_kwh: FloatArray
    soc_max_kwh: FloatArray
    initial_kwh: float
    warnings: tuple[str, ...]


def step_bounds(problem: DispatchProblem) -> StepBounds:
    """The limits of each step, repaired so that some plan always meets them.

    A battery outside its SoC range is first brought back into it as fast as it can go (charge from
    below, discharge from above: the direction the fleet validator allows), and a final SoC that
    cannot be reached is moved to the nearest one that can.
    """
    battery, n = problem.battery, problem.steps
    hours = problem.step_hours
    low, high = battery.min_kwh, battery.max_kwh
    initial = battery.capacity_kwh * problem.initial_soc_pct / 100.0
    charge_max = np.full(n, battery.max_charge_kw * hours * battery.charge_efficiency)
    discharge_max = np.full(n, battery.max_discharge_kw * hours / battery.discharge_efficiency)
    soc_min = np.full(n, low)
    soc_max = np.full(n, high)
    warnings: list[str] = []
    if initial < low - _SLACK_KWH:
        steps = _recover(initial, low, charge_max, soc_min, discharge_max, rising=True)
        warnings.append(
            f"initial SoC {problem.initial_soc_pct:g}% is below the minimum of {battery.min_soc_pct:g}%: "
            f"charging as fast as possible until it is reached ({_describe(steps, n)}), no discharge before"
        )
    elif initial > high + _SLACK_KWH:
        steps = _recover(initial, high, discharge_max, soc_max, charge_max, rising=False)
        warnings.append(
            f"initial SoC {problem.initial_soc_pct:g}% is above the maximum of {battery.max_soc_pct:g}%: "
            f"discharging as fast as possible until it is reached ({_describe(steps, n)}), no charge before"
        )
    reach_low, reach_high = _reachable(initial, charge_max, discharge_max, soc_min, soc_max)
    if problem.terminal_value_per_mwh is None:
        start_pct = min(max(problem.initial_soc_pct, battery.min_soc_pct), battery.max_soc_pct)
        wanted_pct = start_pct if problem.final_soc_pct is None else problem.final_soc_pct
        wanted = battery.capacity_kwh * wanted_pct / 100.0
        final = min(max(wanted, reach_low), reach_high)
        if abs(final - wanted) > _SLACK_KWH:
            to_pct = 100.0 / battery.capacity_kwh
            warnings.append(
                f"final SoC {wanted_pct:g}% cannot be reached within the horizon "
                f"(reachable: {reach_low * to_pct:.4g}..{reach_high * to_pct:.4g}%)"
                f": planning to end at {final * to_pct:.4g}% instead"
            )
        soc_min[-1] = soc_max[-1] = final
    return StepBounds(charge_max, discharge_max, soc_min, soc_max, initial, tuple(warnings))


def _recover(
    initial: float, limit: float, towards_max: FloatArray, bound: FloatArray, away_max: FloatArray, *, rising: bool
) -> int:
    """Force the stored energy back towards limit at full power; returns the steps it takes (len+1 if never)."""
    level = initial
    for step in range(bound.size):
        level = min(level + towards_max[step], limit) if rising else max(level - towards_max[step], limit)
        bound[step] = level
        away_max[step] = 0.0
        if level == limit:
            return step + 1
    return bound.size + 1


def _reachable(
    initial: float, charge_max: FloatArray, discharge_max: FloatArray, soc_min: FloatArray, soc_max: FloatArray
) -> tuple[float, float]:
    """The lowest and highest stored energy the battery can have at the end of the horizon."""
    low = high = initial
    for step in range(charge_max.size):
        low = max(soc_min[step], low - discharge_max[step])
        high = min(soc_max[step], high + charge_max[step])
    return low, high


def _describe(steps: int, total: int) -> str:
    return f"{steps} step{'s' if steps != 1 else ''}" if steps <= total else "not within the horizon"
