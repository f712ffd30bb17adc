"""The home battery's controllers: the rule, the step within limits, the PV nowcast and the receding horizon."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridpilot.market.dispatch import DispatchProblem, Site, Solver
from gridpilot.market.evaluation import site_bill
from gridpilot.market.household import HOME_BATTERY
from gridpilot.market.household_control import (
    battery_step,
    grid_following_request,
    profile_forecast,
    pv_nowcast,
    receding_horizon_day,
    rule_based,
)

HOURS = np.arange(24)
LOAD = 0.4 + 0.8 * np.exp(-((HOURS - 19.5) ** 2) / 4.5)
PV = np.clip(4.0 * np.cos((HOURS - 12) / 12 * np.pi), 0.0, None)
SELL = 60 + 40 * np.cos((HOURS - 19) / 24 * 2 * np.pi)
BUY = SELL + 150


def test_the_rule_charges_from_surplus_and_covers_load_within_limits() -> None:
    net = np.array([-8.0, -8.0, -8.0, 3.0, 9.0, 9.0])

    power, end_kwh = rule_based(net, 1.0, HOME_BATTERY, 60)

    assert power[0] == 5.0 and power[3] == -3.0
    assert np.all(np.abs(power) <= 5)
    assert HOME_BATTERY.min_kwh - 1e-9 <= end_kwh <= HOME_BATTERY.max_kwh + 1e-9


def test_a_step_gives_what_power_and_stored_energy_allow() -> None:
    almost_full = HOME_BATTERY.max_kwh - 0.95
    assert battery_step(8.0, 3.0, HOME_BATTERY, 1.0) == pytest.approx((5.0, 3.0 + 5.0 * 0.95))
    assert battery_step(3.0, almost_full, HOME_BATTERY, 1.0) == pytest.approx((1.0, HOME_BATTERY.max_kwh))
    assert battery_step(-2.0, 5.0, HOME_BATTERY, 0.5) == pytest.approx((-2.0, 5.0 - 2.0 * 0.5 / 0.95))
    assert battery_step(-4.0, HOME_BATTERY.min_kwh + 1.0, HOME_BATTERY, 1.0) == pytest.approx(
        (-0.95, HOME_BATTERY.min_kwh)
    )
    assert battery_step(-1.0, HOME_BATTERY.min_kwh, HOME_BATTERY, 1.0) == (0.0, HOME_BATTERY.min_kwh)
    assert battery_step(0.0, 5.0, HOME_BATTERY, 1.0) == (0.0, 5.0)


def test_the_forecast_is_the_mean_of_the_last_seven_days() -> None:
    days = [np.full(24, float(day)) for day in range(10)]

    assert profile_forecast(days) == pytest.approx(np.full(24, 6.0))
    assert profile_forecast(days[:2]) == pytest.approx(np.full(24, 0.5))


def test_the_pv_forecast_follows_what_has_come_so_far() -> None:
    forecast = PV.copy()

    assert pv_nowcast(forecast, np.zeros(6)) is forecast  # nothing expected before 06:00 yet
    assert pv_nowcast(forecast, 0.5 * PV[:10]) == pytest.approx(0.5 * PV)
    assert pv_nowcast(forecast, 10 * PV[:10]) == pytest.approx(3.0 * PV)  # capped


def test_with_a_perfect_forecast_it_costs_what_the_day_planned_at_once_costs() -> None:
    solver = Solver()
    value = float(BUY.min()) * HOME_BATTERY.discharge_efficiency
    whole_day = solver.solve(
        DispatchProblem(HOME_BATTERY, BUY, 60, 30.0, terminal_value_per_mwh=value, site=Site(LOAD, PV, SELL))
    )

    power, end_kwh = receding_horizon_day(
        solver,
        HOME_BATTERY,
        buy=BUY,
        sell=SELL,
        load_kw=LOAD,
        pv_kw=PV,
        forecast_load_kw=LOAD,
        forecast_pv_kw=PV,
        soc_kwh=3.0,
        minutes=60,
        terminal_value_per_mwh=value,
    )

    def worth(battery_kw: np.ndarray, end: float) -> float:
        return site_bill(LOAD - PV + battery_kw, BUY, SELL, 60) - end * value / 1000.0

    whole_day_end = float(whole_day.soc_pct[-1]) / 100.0 * HOME_BATTERY.capacity_kwh
    assert worth(power, end_kwh) == pytest.approx(worth(whole_day.net_kw, whole_day_end), abs=1e-6)


def test_the_battery_takes_up_pv_the_forecast_missed() -> None:
    flat = np.full(24, 100.0)

    power, end_kwh = receding_horizon_day(
        Solver(),
        HOME_BATTERY,
        buy=flat + 150,
        sell=flat,
        load_kw=LOAD,
        pv_kw=PV,
        forecast_load_kw=LOAD,
        forecast_pv_kw=np.zeros(24),
        soc_kwh=HOME_BATTERY.min_kwh,
        minutes=60,
        terminal_value_per_mwh=float(flat.min() + 150) * HOME_BATTERY.discharge_efficiency,
    )

    first_surplus = int(np.flatnonzero(PV > LOAD)[0])
    assert power[first_surplus] == pytest.approx(PV[first_surplus] - LOAD[first_surplus])
    assert end_kwh > HOME_BATTERY.min_kwh


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.0, 6.0), min_size=24, max_size=24),
    st.lists(st.floats(0.0, 6.0), min_size=24, max_size=24),
    st.lists(st.floats(-200.0, 300.0), min_size=24, max_size=24),
    st.floats(HOME_BATTERY.min_soc_pct, HOME_BATTERY.max_soc_pct),
)
def test_every_step_stays_within_the_battery_limits(
    load: list[float], pv: list[float], prices: list[float], soc_pct: float
) -> None:
    sell = np.array(prices)
    start_kwh = soc_pct / 100.0 * HOME_BATTERY.capacity_kwh

    power, end_kwh = receding_horizon_day(
        Solver(),
        HOME_BATTERY,
        buy=sell + 150,
        sell=sell,
        load_kw=np.array(load),
        pv_kw=np.array(pv),
        forecast_load_kw=LOAD,
        forecast_pv_kw=PV,
        soc_kwh=start_kwh,
        minutes=60,
        terminal_value_per_mwh=100.0,
    )

    assert np.all(power <= HOME_BATTERY.max_charge_kw + 1e-9)
    assert np.all(power >= -HOME_BATTERY.max_discharge_kw - 1e-9)
    stored = start_kwh + np.cumsum(
        np.where(power > 0, power * HOME_BATTERY.charge_efficiency, power / HOME_BATTERY.discharge_efficiency)
    )
    assert np.all(stored >= HOME_BATTERY.min_kwh - 1e-6) and np.all(stored <= HOME_BATTERY.max_kwh + 1e-6)
    assert end_kwh == pytest.approx(stored[-1])


@pytest.mark.parametrize(
    ("planned", "forecast_net", "actual_net", "battery_kw"),
    [
        (0.0, 1.0, -0.5, 0.5),  # more PV than forecast: what would be exported is stored
        (0.0, 1.0, 0.3, 0.0),  # less load than forecast: the import just falls
        (2.0, -3.0, -4.0, 3.0),  # a planned charge from surplus takes the extra surplus too
        (-1.0, 2.0, 3.5, -2.5),  # more load than forecast: the battery covers it
        (-2.0, 1.0, 0.0, -1.0),  # less load while exporting: the export as planned, less discharge
        (1.0, 0.5, 0.5, 1.0),  # a perfect forecast: the plan as it stands
    ],
)
def test_the_battery_corrects_only_the_errors_that_would_cost(
    planned: float, forecast_net: float, actual_net: float, battery_kw: float
) -> None:
    assert grid_following_request(planned, forecast_net, actual_net) == pytest.approx(battery_kw)
