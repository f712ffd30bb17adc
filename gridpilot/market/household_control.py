"""Running a home battery behind the meter: the self-consumption rule and a receding-horizon optimizer.

A power schedule planned a day ahead on a forecast of load and PV and executed as it stands buys what the
forecast missed at the import price and sells what it overestimated at the export price. Two things make
the optimizer usable on a forecast instead: the battery follows the plan's grid exchange rather than its
own power (it absorbs the forecast's error within its limits, as the self-consumption rule absorbs the
whole net load), and the rest of the day is planned again at every step from the measured SoC, with the
day's PV forecast rescaled by how much of it has come so far (clear-sky index persistence).
"""

from __future__ import annotations

import numpy as np

from gridpilot.market.dispatch import Battery, DispatchProblem, Site, Solver
from gridpilot.market.dispatch.battery import FloatArray

FORECAST_DAYS = 7
"""The load and PV forecast is the mean of this many previous days, step by step."""
_NOWCAST_AFTER_SHARE = 0.02
"""The PV forecast is rescaled once the forecast expected this share of the day's PV to have come."""
_NOWCAST_MAX_SCALE = 3.0


def battery_step(request_kw: float, soc_kwh: float, battery: Battery, hours: float) -> tuple[float, float]:
    """The power the battery can give of request_kw (+ charging) within its power and SoC limits, and the new SoC."""
    if request_kw > 0:
        room = (battery.max_kwh - soc_kwh) / (battery.charge_efficiency * hours)
        power = min(request_kw, battery.max_charge_kw, max(room, 0.0))
        return power, soc_kwh + power * battery.charge_efficiency * hours
    if request_kw < 0:
        stock = (soc_kwh - battery.min_kwh) * battery.discharge_efficiency / hours
        power = -min(-request_kw, battery.max_discharge_kw, max(stock, 0.0))
        return power, soc_kwh + power / battery.discharge_efficiency * hours
    return 0.0, soc_kwh


def rule_based(net_load_kw: FloatArray, soc_kwh: float, battery: Battery, minutes: float) -> tuple[FloatArray, float]:
    """The self-consumption rule: charge from PV surplus, discharge to cover load; battery power and final energy."""
    hours = minutes / 60.0
    power = np.zeros(net_load_kw.size)
    for step, need in enumerate(net_load_kw.tolist()):
        power[step], soc_kwh = battery_step(-need, soc_kwh, battery, hours)
    return power, soc_kwh


def grid_following_request(planned_kw: float, forecast_net_kw: float, actual_net_kw: float) -> float:
    """The battery power that keeps the meter at the plan's grid exchange where the forecast's error would cost.

    Energy the forecast did not expect is stored only as far as it would otherwise be exported beyond
    the plan, and energy missing is drawn from the battery only as far as it would otherwise be imported
    beyond the plan: an error that merely lowers the planned import or export goes to the meter, since
    storing a kWh to save its import later loses the round trip.
    """
    planned_grid = forecast_net_kw + planned_kw
    uncorrected_grid = actual_net_kw + planned_kw
    if uncorrected_grid < min(planned_grid, 0.0):
        return planned_kw + min(planned_grid, 0.0) - uncorrected_grid
    if uncorrected_grid > max(planned_grid, 0.0):
        return planned_kw + max(planned_grid, 0.0) - uncorrected_grid
    return planned_kw


def profile_forecast(previous_days: list[FloatArray]) -> FloatArray:
    """Tomorrow's profile (load or PV, one value per step): the mean of the last FORECAST_DAYS days."""
    mean: FloatArray = np.mean(np.stack(previous_days[-FORECAST_DAYS:]), axis=0)
    return mean


def pv_nowcast(forecast_pv_kw: FloatArray, observed_pv_kw: FloatArray) -> FloatArray:
    """The day's PV forecast scaled by the ratio of the PV observed so far to what the forecast expected by now."""
    steps = observed_pv_kw.size
    expected = float(forecast_pv_kw[:steps].sum())
    if expected <= _NOWCAST_AFTER_SHARE * float(forecast_pv_kw.sum()) or expected <= 0.0:
        return forecast_pv_kw
    scale = min(float(observed_pv_kw.sum()) / expected, _NOWCAST_MAX_SCALE)
    return forecast_pv_kw * scale


def receding_horizon_day(
    solver: Solver,
    battery: Battery,
    *,
    buy: FloatArray,
    sell: FloatArray,
    load_kw: FloatArray,
    pv_kw: FloatArray,
    forecast_load_kw: FloatArray,
    forecast_pv_kw: FloatArray,
    soc_kwh: float,
    minutes: float,
    terminal_value_per_mwh: float,
) -> tuple[FloatArray, float]:
    """One day run by the optimizer on a forecast: the battery power of every step and the SoC at the day's end.

    Before each step the rest of the day is planned again from the measured SoC on the forecast (PV
    rescaled by what has come so far); the step then runs the planned grid exchange, the battery making
    up the difference between the forecast and the actual net load as far as its limits allow. load_kw
    and pv_kw are what happens: step t sees only their values before t.
    """
    hours = minutes / 60.0
    steps = buy.size
    power = np.zeros(steps)
    for step in range(steps):
        expected_pv = pv_nowcast(forecast_pv_kw, pv_kw[:step])
        site = Site(forecast_load_kw[step:], expected_pv[step:], sell[step:])
        soc_pct = soc_kwh / battery.capacity_kwh * 100.0
        plan = solver.solve(
            DispatchProblem(
                battery, buy[step:], minutes, soc_pct, terminal_value_per_mwh=terminal_value_per_mwh, site=site
            )
        )
        forecast_net = forecast_load_kw[step] - expected_pv[step]
        actual_net = load_kw[step] - pv_kw[step]
        request = grid_following_request(float(plan.net_kw[0]), forecast_net, actual_net)
        power[step], soc_kwh = battery_step(request, soc_kwh, battery, hours)
    return power, soc_kwh
