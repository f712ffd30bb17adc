"""A battery behind a household meter: the bill, not the battery's arbitrage, is what gets minimized."""

from __future__ import annotations

import numpy as np
import pytest

from gridpilot.market.dispatch import Battery, DispatchProblem, Method, Site, optimize

HOME = Battery(10, 5, 5, 0.95, 0.95, 10, 90)
HOURS = np.arange(24)
LOAD = 0.3 + 0.7 * np.exp(-((HOURS - 19) ** 2) / 6)
PV = np.clip(4 * np.sin((HOURS - 6) / 12 * np.pi), 0, None)
SPOT = 60 + 40 * np.cos((HOURS - 19) / 24 * 2 * np.pi)


def bill(import_kw: np.ndarray, export_kw: np.ndarray, buy: np.ndarray, sell: np.ndarray) -> float:
    return float(import_kw @ buy - export_kw @ sell) / 1000


def test_the_battery_lowers_the_bill_and_the_meter_balances() -> None:
    site = Site(LOAD, PV, SPOT)
    dispatch = optimize(DispatchProblem(HOME, SPOT + 150, 60, 50, site=site))

    assert dispatch.grid_import_kw is not None and dispatch.grid_export_kw is not None
    balance = dispatch.grid_import_kw - dispatch.grid_export_kw
    np.testing.assert_allclose(balance, LOAD - PV + dispatch.net_kw, atol=1e-7)
    net = LOAD - PV
    without = bill(np.maximum(net, 0), np.maximum(-net, 0), SPOT + 150, SPOT)
    assert dispatch.objective == pytest.approx(bill(dispatch.grid_import_kw, dispatch.grid_export_kw, SPOT + 150, SPOT))
    assert dispatch.objective < without
    assert np.all(np.minimum(dispatch.grid_import_kw, dispatch.grid_export_kw) <= 1e-7)


def test_the_grid_limit_caps_import_and_export() -> None:
    site = Site(LOAD, PV, SPOT, grid_limit_kw=2.0)
    dispatch = optimize(DispatchProblem(HOME, SPOT + 150, 60, 50, site=site))

    assert dispatch.grid_import_kw is not None and dispatch.grid_export_kw is not None
    assert dispatch.grid_import_kw.max() <= 2 + 1e-7 and dispatch.grid_export_kw.max() <= 2 + 1e-7
    assert not dispatch.warnings


def test_export_paying_more_than_import_costs_does_not_import_and_export_at_once() -> None:
    sell = SPOT + 200  # an inverted tariff: the LP would cycle the meter
    site = Site(LOAD, PV, sell, grid_limit_kw=3.0)
    dispatch = optimize(DispatchProblem(HOME, SPOT, 60, 50, site=site))

    assert dispatch.method is Method.MILP
    assert dispatch.grid_import_kw is not None and dispatch.grid_export_kw is not None
    assert np.all(np.minimum(dispatch.grid_import_kw, dispatch.grid_export_kw) <= 1e-7)
    assert np.all(np.minimum(dispatch.charge_kw, dispatch.discharge_kw) <= 1e-7)


def test_negative_export_prices_with_a_full_battery() -> None:
    sell = np.where(PV > 0, -50.0, SPOT)
    site = Site(LOAD, PV, sell)
    dispatch = optimize(DispatchProblem(HOME, SPOT + 150, 60, 50, site=site))

    assert np.all(np.minimum(dispatch.charge_kw, dispatch.discharge_kw) <= 1e-7)
    assert dispatch.grid_import_kw is not None and dispatch.grid_export_kw is not None
    assert dispatch.objective == pytest.approx(bill(dispatch.grid_import_kw, dispatch.grid_export_kw, SPOT + 150, sell))
