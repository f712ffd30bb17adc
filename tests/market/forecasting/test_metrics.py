"""Error measures against hand-computed values."""

from __future__ import annotations

import math

import pytest

from gridpilot.market.forecasting.metrics import mae, relative_mae, rmse, smape, summarize


def test_measures_match_hand_computation() -> None:
    actual, forecast, naive = [10.0, 20.0, 0.0], [12.0, 16.0, 0.0], [10.0, 30.0, 3.0]
    assert mae(actual, forecast) == pytest.approx(2.0)
    assert rmse(actual, forecast) == pytest.approx(math.sqrt((4 + 16) / 3))
    assert smape(actual, forecast) == pytest.approx(100 * (4 / 22 + 8 / 36 + 0) / 3)
    assert relative_mae(actual, forecast, naive) == pytest.approx(2.0 / (13 / 3))
    summary = summarize(actual, forecast, naive)
    assert summary.mean_price == pytest.approx(10.0)
    assert summary.mae_percent_of_mean == pytest.approx(20.0)


def test_relative_mae_against_a_perfect_naive_is_undefined() -> None:
    assert math.isnan(relative_mae([1.0, 2.0], [1.5, 2.0], [1.0, 2.0]))
