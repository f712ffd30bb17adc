"""A household behind one meter: a synthetic load and PV profile, and what a battery saves on its bill.

No household data ships with gridpilot, so the profile is synthetic and deterministic (a seeded
generator): a daily load shape with morning and evening peaks, weekend mornings later, more in
winter; PV from the sun's elevation at a given latitude, scaled by a random clearness per day.
The tariff is dynamic: import pays the day-ahead price plus a fixed network fee, export earns the
day-ahead price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridpilot.market.dispatch import Battery, DispatchProblem, Site, Solver
from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.market.evaluation import complete_days, site_bill, step_minutes
from gridpilot.market.household_control import profile_forecast, receding_horizon_day, rule_based

HOME_BATTERY = Battery(
    capacity_kwh=10,
    max_charge_kw=5,
    max_discharge_kw=5,
    charge_efficiency=0.95,
    discharge_efficiency=0.95,
    min_soc_pct=10,
    max_soc_pct=90,
)
"""A typical home battery: 10 kWh, 5 kW, 95 % each way, SoC 10-90 %."""


@dataclass(frozen=True)
class HouseholdEvaluation:
    """The household's bill over the same days without a battery, with a rule-based one, and optimized."""

    days: int
    without_battery: float
    rule_based: float
    optimized: float
    optimized_on_yesterday: float
    """Planned on yesterday's load and PV (the prices are known a day ahead), that battery power run blindly."""
    receding_horizon: float
    """Planned again before every step on a load and PV forecast, the battery following the planned grid exchange."""

    def reduction(self, cost: float, baseline: float) -> float:
        """How much lower cost is than baseline, as a share of the baseline's absolute value."""
        return (baseline - cost) / abs(baseline)


def synthetic_household(
    index: pd.DatetimeIndex,
    *,
    annual_load_kwh: float = 3500.0,
    pv_peak_kw: float = 5.0,
    latitude_deg: float = 50.8,
    seed: int = 6,
) -> pd.DataFrame:
    """Columns load_kw and pv_kw, the mean power of each period of index (wall-clock times as local solar time)."""
    minutes = step_minutes(index)
    middle = index + pd.Timedelta(minutes=minutes / 2)
    hour = middle.hour.to_numpy() + middle.minute.to_numpy() / 60.0
    day_of_year = middle.day_of_year.to_numpy()
    weekend = middle.day_of_week.to_numpy() >= 5
    rng = np.random.default_rng(seed)
    morning = np.where(weekend, 9.5, 7.5)
    shape = (
        0.25
        + 0.45 * np.exp(-((hour - morning) ** 2) / 2.0)
        + np.where(weekend, 0.35, 0.15) * np.exp(-((hour - 13.0) ** 2) / 8.0)
        + 0.8 * np.exp(-((hour - 19.5) ** 2) / 4.5)
    )
    season = 1.0 + 0.2 * np.cos(2 * np.pi * (day_of_year - 15) / 365.0)
    load = shape * season * rng.lognormal(0.0, 0.15, index.size)
    hours_covered = index.size * minutes / 60.0
    load *= annual_load_kwh * hours_covered / 8760.0 / (load.sum() * minutes / 60.0)
    declination = np.radians(23.44) * np.sin(2 * np.pi * (284 + day_of_year) / 365.0)
    latitude = np.radians(latitude_deg)
    hour_angle = np.radians(15.0 * (hour - 12.0))
    elevation = np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(declination) * np.cos(hour_angle)
    days = pd.DatetimeIndex(middle.normalize())
    codes, unique_days = pd.factorize(days)
    clearness = rng.beta(2.0, 1.3, len(unique_days))[codes]
    pv = pv_peak_kw * 0.85 * np.clip(elevation, 0.0, None) * clearness
    return pd.DataFrame({"load_kw": load, "pv_kw": pv}, index=index)


def evaluate_household(
    prices: pd.Series,
    household: pd.DataFrame,
    *,
    network_fee_per_mwh: float = 150.0,
    battery: Battery = HOME_BATTERY,
    soc_pct: float = 50.0,
    last_days: int | None = None,
) -> HouseholdEvaluation:
    """The bill over every complete day: no battery, the rule-based battery, and optimized day by day.

    Every controller carries its SoC from one day to the next. The optimizer plans each day alone
    (the next day's prices are not known at midnight) and values the energy left at the day's end at
    what it saves at least: the day's cheapest import price, after the discharge loss. The days before
    the last `last_days` are not billed but serve as the forecasters' history.
    """
    frame = household[["load_kw", "pv_kw"]].assign(price=prices)
    minutes = step_minutes(pd.DatetimeIndex(frame.index))
    every_day = [rows for _, rows in complete_days(frame, minutes)]
    first_billed = 0 if last_days is None else max(0, len(every_day) - last_days)
    solver = Solver()
    totals = np.zeros(5)
    soc_kwh = [battery.capacity_kwh * soc_pct / 100.0] * 4  # one per controller with a battery
    past = [_profile(rows) for rows in every_day[:first_billed]]
    for rows in every_day[first_billed:]:
        day = _Day.of(rows, network_fee_per_mwh, battery, minutes)
        today = (day.load_kw, day.pv_kw)
        history = [earlier for earlier in past if earlier[0].size == day.load_kw.size]
        rule_kw, soc_kwh[0] = rule_based(day.net_kw, soc_kwh[0], battery, minutes)
        optimized_kw, soc_kwh[1] = _day_ahead_plan(solver, battery, day, today, soc_kwh[1])
        yesterday_kw, soc_kwh[2] = _day_ahead_plan(solver, battery, day, history[-1] if history else today, soc_kwh[2])
        receding_kw, soc_kwh[3] = _receding_horizon(solver, battery, day, history, soc_kwh[3])
        for slot, battery_kw in enumerate(
            (np.zeros_like(day.net_kw), rule_kw, optimized_kw, yesterday_kw, receding_kw)
        ):
            totals[slot] += site_bill(day.net_kw + battery_kw, day.buy, day.sell, minutes)
        past.append(today)
    return HouseholdEvaluation(len(every_day) - first_billed, *(float(total) for total in totals))


@dataclass(frozen=True)
class _Day:
    """One day of the household: what happens, what it costs, and what energy left at its end is worth."""

    load_kw: FloatArray
    pv_kw: FloatArray
    buy: FloatArray
    sell: FloatArray
    minutes: float
    terminal_value_per_mwh: float

    @classmethod
    def of(cls, rows: pd.DataFrame, network_fee_per_mwh: float, battery: Battery, minutes: float) -> _Day:
        load, pv = _profile(rows)
        sell = rows["price"].to_numpy(np.float64)
        buy = sell + network_fee_per_mwh
        return cls(load, pv, buy, sell, minutes, float(buy.min()) * battery.discharge_efficiency)

    @property
    def net_kw(self) -> FloatArray:
        """Load minus PV."""
        return self.load_kw - self.pv_kw


def _profile(rows: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    return rows["load_kw"].to_numpy(np.float64), rows["pv_kw"].to_numpy(np.float64)


def _day_ahead_plan(
    solver: Solver, battery: Battery, day: _Day, seen: tuple[FloatArray, FloatArray], soc_kwh: float
) -> tuple[FloatArray, float]:
    """The day planned at midnight on the seen load and PV, its battery power run as planned."""
    soc_pct = soc_kwh / battery.capacity_kwh * 100.0
    problem = DispatchProblem(
        battery,
        day.buy,
        day.minutes,
        soc_pct,
        terminal_value_per_mwh=day.terminal_value_per_mwh,
        site=Site(seen[0], seen[1], day.sell),
    )
    plan = solver.solve(problem)
    return plan.net_kw, float(plan.soc_pct[-1]) / 100.0 * battery.capacity_kwh


def _receding_horizon(
    solver: Solver, battery: Battery, day: _Day, history: list[tuple[FloatArray, FloatArray]], soc_kwh: float
) -> tuple[FloatArray, float]:
    """The day run by the receding-horizon optimizer on the history's forecast; by the rule without history."""
    if not history:
        return rule_based(day.net_kw, soc_kwh, battery, day.minutes)
    return receding_horizon_day(
        solver,
        battery,
        buy=day.buy,
        sell=day.sell,
        load_kw=day.load_kw,
        pv_kw=day.pv_kw,
        forecast_load_kw=profile_forecast([load for load, _ in history]),
        forecast_pv_kw=profile_forecast([pv for _, pv in history]),
        soc_kwh=soc_kwh,
        minutes=day.minutes,
        terminal_value_per_mwh=day.terminal_value_per_mwh,
    )
