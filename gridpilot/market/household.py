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
    """Optimized on yesterday's load and PV (the prices are known a day ahead), settled on today's."""

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
    what it saves at least: the day's cheapest import price, after the discharge loss.
    """
    frame = household[["load_kw", "pv_kw"]].assign(price=prices)
    minutes = step_minutes(pd.DatetimeIndex(frame.index))
    days = list(complete_days(frame, minutes))
    if last_days is not None:
        days = days[-last_days:]
    solver = Solver()
    totals = np.zeros(4)
    socs = [soc_pct] * 3  # rule-based, optimized, optimized on yesterday's profile
    yesterday: pd.DataFrame | None = None
    for _, rows in days:
        load, pv = rows["load_kw"].to_numpy(np.float64), rows["pv_kw"].to_numpy(np.float64)
        sell = rows["price"].to_numpy(np.float64)
        buy = sell + network_fee_per_mwh
        value = float(buy.min()) * battery.discharge_efficiency
        totals[0] += site_bill(load - pv, buy, sell, minutes)
        rule_kw, rule_kwh = rule_based(load - pv, battery.capacity_kwh * socs[0] / 100.0, battery, minutes)
        totals[1] += site_bill(load - pv + rule_kw, buy, sell, minutes)
        socs[0] = rule_kwh / battery.capacity_kwh * 100.0
        for slot, seen in ((2, rows), (3, rows if yesterday is None or len(yesterday) != len(rows) else yesterday)):
            site = Site(seen["load_kw"].to_numpy(np.float64), seen["pv_kw"].to_numpy(np.float64), sell)
            plan = solver.solve(
                DispatchProblem(battery, buy, minutes, socs[slot - 1], terminal_value_per_mwh=value, site=site)
            )
            totals[slot] += site_bill(load - pv + plan.net_kw, buy, sell, minutes)
            socs[slot - 1] = float(plan.soc_pct[-1])
        yesterday = rows
    return HouseholdEvaluation(len(days), *(float(total) for total in totals))


def rule_based(net_load_kw: FloatArray, soc_kwh: float, battery: Battery, minutes: float) -> tuple[FloatArray, float]:
    """The self-consumption rule: charge from PV surplus, discharge to cover load; battery power and final energy."""
    hours = minutes / 60.0
    power = np.zeros(net_load_kw.size)
    for step, need in enumerate(net_load_kw.tolist()):
        if need < 0:
            room = (battery.max_kwh - soc_kwh) / (battery.charge_efficiency * hours)
            power[step] = min(-need, battery.max_charge_kw, max(room, 0.0))
            soc_kwh += power[step] * battery.charge_efficiency * hours
        elif need > 0:
            stock = (soc_kwh - battery.min_kwh) * battery.discharge_efficiency / hours
            power[step] = -min(need, battery.max_discharge_kw, max(stock, 0.0))
            soc_kwh += power[step] / battery.discharge_efficiency * hours
    return power, soc_kwh
