"""The synthetic household and its bill with no battery, a rule-based one, and the optimizer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.household import HOME_BATTERY, evaluate_household, rule_based, synthetic_household

INDEX = pd.date_range("2026-06-01", periods=24 * 14, freq="h", tz="UTC")


def test_the_profile_is_deterministic_and_scaled_to_the_annual_load() -> None:
    first, second = synthetic_household(INDEX), synthetic_household(INDEX)

    pd.testing.assert_frame_equal(first, second)
    assert first["load_kw"].sum() == pytest.approx(3500 * 14 * 24 / 8760)
    night = first["pv_kw"][first.index.hour.isin([0, 1, 2, 23])]
    assert (night == 0).all() and first["pv_kw"].max() <= 5


def test_the_rule_charges_from_surplus_and_covers_load_within_limits() -> None:
    net = np.array([-8.0, -8.0, -8.0, 3.0, 9.0, 9.0])

    power, end_kwh = rule_based(net, 1.0, HOME_BATTERY, 60)

    assert power[0] == 5.0 and power[3] == -3.0
    assert np.all(np.abs(power) <= 5)
    assert HOME_BATTERY.min_kwh - 1e-9 <= end_kwh <= HOME_BATTERY.max_kwh + 1e-9


def test_the_optimizer_beats_no_battery_and_the_rule() -> None:
    hours = INDEX.hour.to_numpy()
    prices = pd.Series(50 + 30 * np.cos((hours - 19) / 24 * 2 * np.pi), index=INDEX)

    result = evaluate_household(prices, synthetic_household(INDEX))

    assert result.days == 14
    assert result.optimized < result.rule_based < result.without_battery
    assert result.reduction(result.optimized, result.without_battery) > 0.10
