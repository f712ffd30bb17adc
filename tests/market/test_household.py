"""The synthetic household and its bill with no battery, a rule-based one, and the optimizer run three ways."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.household import evaluate_household, synthetic_household

INDEX = pd.date_range("2026-06-01", periods=24 * 14, freq="h", tz="UTC")


def test_the_profile_is_deterministic_and_scaled_to_the_annual_load() -> None:
    first, second = synthetic_household(INDEX), synthetic_household(INDEX)

    pd.testing.assert_frame_equal(first, second)
    assert first["load_kw"].sum() == pytest.approx(3500 * 14 * 24 / 8760)
    night = first["pv_kw"][first.index.hour.isin([0, 1, 2, 23])]
    assert (night == 0).all() and first["pv_kw"].max() <= 5


def test_the_optimizer_beats_no_battery_and_the_rule() -> None:
    hours = INDEX.hour.to_numpy()
    prices = pd.Series(50 + 30 * np.cos((hours - 19) / 24 * 2 * np.pi), index=INDEX)

    result = evaluate_household(prices, synthetic_household(INDEX))

    assert result.days == 14
    assert result.optimized < result.rule_based < result.without_battery
    assert result.reduction(result.optimized, result.without_battery) > 0.10


def test_the_receding_horizon_beats_the_rule_once_it_has_days_to_forecast_from() -> None:
    hours = INDEX.hour.to_numpy()
    prices = pd.Series(50 + 30 * np.cos((hours - 19) / 24 * 2 * np.pi), index=INDEX)

    result = evaluate_household(prices, synthetic_household(INDEX), last_days=7)

    assert result.days == 7
    assert result.optimized < result.receding_horizon < result.rule_based


def test_a_day_with_no_earlier_day_to_forecast_from_runs_on_the_rule() -> None:
    first_day = INDEX[:24]
    prices = pd.Series(np.linspace(20, 90, 24), index=first_day)

    result = evaluate_household(prices, synthetic_household(first_day))

    assert result.days == 1
    assert result.receding_horizon == result.rule_based
