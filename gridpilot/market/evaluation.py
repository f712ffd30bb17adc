"""What dispatch on a forecast earns when settled on the real prices: the money measure of a forecast.

Pure: series in, figures out. Every day is planned on its own (start = end SoC), on the forecast,
and paid at the actual price; perfect foresight plans on the actual price itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridpilot.market.dispatch import Battery, DispatchProblem, Solver
from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.forecasting.shape import PLAN_ON_FORECAST, PlanningRule, shape_error

STANDARD_BATTERY = Battery(
    capacity_kwh=2000,
    max_charge_kw=1000,
    max_discharge_kw=1000,
    charge_efficiency=0.95,
    discharge_efficiency=0.95,
    min_soc_pct=10,
    max_soc_pct=90,
)
"""The issue's reference battery: 1 MW / 2 MWh, 95 % each way, SoC 10-90 %."""


@dataclass(frozen=True)
class ArbitrageEvaluation:
    """Per day and in total: what the forecast-driven plan earned and what perfect foresight would have."""

    days: pd.DataFrame
    """Index: the delivery day; columns revenue and perfect_revenue (currency)."""
    skipped_days: int
    """Days of the data left out because a period or a value was missing (here or in a forecast compared)."""

    @property
    def revenue(self) -> float:
        """Total earnings of the plans made on the forecast, at the actual prices, less wear."""
        return float(self.days["revenue"].sum())

    @property
    def perfect_revenue(self) -> float:
        """Total earnings had each day been planned on its actual prices."""
        return float(self.days["perfect_revenue"].sum())

    @property
    def captured_share(self) -> float:
        """revenue / perfect_revenue (NaN when perfect foresight earns nothing)."""
        return self.revenue / self.perfect_revenue if self.perfect_revenue > 0 else float("nan")


def same_hour_yesterday(actual: pd.Series) -> pd.Series:
    """The naive forecast: each period's price 24 hours before (the same wall-clock time but next to a DST change)."""
    shifted = actual.copy()
    shifted.index = shifted.index + pd.Timedelta(days=1)
    return shifted.reindex(actual.index)


def step_minutes(index: pd.DatetimeIndex) -> float:
    """The series' resolution: the most common distance between consecutive timestamps."""
    if len(index) < 2:
        raise ValueError("need at least two timestamps to tell the resolution")
    gaps = pd.Series(index[1:] - index[:-1])
    return float(gaps.mode().iloc[0].total_seconds()) / 60.0


def complete_days(frame: pd.DataFrame, minutes: float) -> Iterator[tuple[pd.Timestamp, pd.DataFrame]]:
    """Each delivery day whose periods are all present, evenly spaced and without a missing value.

    Days are those of the index's time zone, so in a market's own zone a DST change makes a day of 23 or 25 hours.
    """
    step = pd.Timedelta(minutes=minutes)
    for day, rows in frame.groupby(frame.index.normalize(), sort=True):
        if rows.isna().to_numpy().any() or len(rows) < 2:
            continue
        gaps = rows.index[1:] - rows.index[:-1]
        if (gaps == step).all() and rows.index[0] == day and rows.index[-1] + step == day + pd.DateOffset(days=1):
            yield pd.Timestamp(day), rows


def evaluate_arbitrage(
    actual: pd.Series,
    forecast: pd.Series,
    *,
    battery: Battery = STANDARD_BATTERY,
    soc_pct: float = 50.0,
    last_days: int | None = None,
    solver: Solver | None = None,
    rule: PlanningRule = PLAN_ON_FORECAST,
    only_days: Collection[pd.Timestamp] | None = None,
    perfect_revenues: dict[pd.Timestamp, float] | None = None,
) -> ArbitrageEvaluation:
    """Plan every day on the forecast, settle on the actual price, and compare with perfect foresight.

    `rule` turns each day's forecast into the prices planned on; its shape correction learns from the
    complete days before that day only (also those before the last `last_days`, and those not in
    `only_days`). Settlement and perfect foresight use the actual prices as they are. `only_days` limits
    the days settled (then the last `last_days` of them) and counts the others as skipped. `perfect_revenues`
    caches each day's perfect-foresight revenue across evaluations of the same prices: solved once, the very
    same figure for every forecast (a warm-started solver may reach another optimal plan, equal to ~1e-15).
    """
    frame = _aligned(actual, forecast)
    days = _complete_days(frame)
    eligible = [day for day, _ in days if only_days is None or day in only_days]
    skipped = frame.index.normalize().nunique() - len(eligible)
    settled = set(eligible if last_days is None else eligible[max(0, len(eligible) - last_days) :])
    minutes = step_minutes(pd.DatetimeIndex(frame.index)) if days else 0.0
    solver = solver or Solver()
    perfect_revenues = {} if perfect_revenues is None else perfect_revenues
    rows = []
    recent_errors: list[FloatArray] = []
    for day, prices in days:
        real = prices["actual"].to_numpy(dtype=np.float64)
        predicted = prices["forecast"].to_numpy(dtype=np.float64)
        if day in settled:
            plan_on = rule.plan_prices(predicted, recent_errors)
            planned = solver.solve(DispatchProblem(battery, plan_on, minutes, soc_pct))
            revenue = _earnings(planned.charge_kw, planned.discharge_kw, real, minutes, battery)
            if day not in perfect_revenues:
                perfect_revenues[day] = -solver.solve(DispatchProblem(battery, real, minutes, soc_pct)).objective
            rows.append({"day": day, "revenue": revenue, "perfect_revenue": perfect_revenues[day]})
        recent_errors.append(shape_error(real, predicted))
    table = pd.DataFrame(rows, columns=["day", "revenue", "perfect_revenue"]).set_index("day")
    return ArbitrageEvaluation(table, skipped)


def evaluate_on_shared_days(
    actual: pd.Series,
    forecasts: Mapping[str, tuple[pd.Series, PlanningRule]],
    *,
    battery: Battery = STANDARD_BATTERY,
    soc_pct: float = 50.0,
    last_days: int | None = None,
    solver: Solver | None = None,
) -> dict[str, ArbitrageEvaluation]:
    """Each forecast (with its planning rule) evaluated on the same days: those complete in the prices and in
    every forecast. Otherwise each share would be of a different perfect-foresight total and not comparable
    (same hour yesterday, for one, has no first day)."""
    shared: set[pd.Timestamp] | None = None
    for forecast, _ in forecasts.values():
        complete = {day for day, _ in _complete_days(_aligned(actual, forecast))}
        shared = complete if shared is None else shared & complete
    solver = solver or Solver()
    perfect_revenues: dict[pd.Timestamp, float] = {}
    return {
        name: evaluate_arbitrage(
            actual,
            forecast,
            battery=battery,
            soc_pct=soc_pct,
            last_days=last_days,
            solver=solver,
            rule=rule,
            only_days=shared,
            perfect_revenues=perfect_revenues,
        )
        for name, (forecast, rule) in forecasts.items()
    }


def _aligned(actual: pd.Series, forecast: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"actual": actual, "forecast": forecast.reindex(actual.index)})


def _complete_days(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """complete_days at the frame's own resolution; none when a single period leaves it unknown."""
    if len(frame) < 2:
        return []
    return list(complete_days(frame, step_minutes(pd.DatetimeIndex(frame.index))))


def _earnings(
    charge_kw: FloatArray, discharge_kw: FloatArray, prices: FloatArray, minutes: float, battery: Battery
) -> float:
    hours = minutes / 60.0
    energy = float((discharge_kw - charge_kw) @ prices) * hours / 1000.0
    wear = float((charge_kw + discharge_kw).sum()) * hours * battery.degradation_cost_per_mwh / 1000.0
    return energy - wear


def site_bill(grid_kw: FloatArray, buy: FloatArray, sell: FloatArray, minutes: float) -> float:
    """What the meter costs: imports at buy, exports earn sell (currency per MWh, power in kW)."""
    hours = minutes / 60.0
    return float(np.maximum(grid_kw, 0.0) @ buy - np.maximum(-grid_kw, 0.0) @ sell) * hours / 1000.0
