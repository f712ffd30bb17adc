"""The naive forecasts copy yesterday's or last week's prices, period by period."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.forecasting import InsufficientHistoryError, create_model
from tests.market.forecasting.synthetic import noisy_walk


def test_daily_copies_yesterday_and_weekly_copies_last_week() -> None:
    prices = noisy_walk(30)
    day = date(2024, 1, 20)
    daily = create_model("naive-daily").predict(prices, day)
    weekly = create_model("naive-weekly").predict(prices, day)
    assert daily.index.equals(prices.loc["2024-01-20"].index)
    assert np.array_equal(daily.to_numpy(), prices.loc["2024-01-19"].to_numpy())
    assert np.array_equal(weekly.to_numpy(), prices.loc["2024-01-13"].to_numpy())


def test_quarter_hours() -> None:
    prices = noisy_walk(10, minutes=15)
    forecast = create_model("naive-daily").predict(prices, date(2024, 1, 8))
    assert len(forecast) == 96
    assert np.array_equal(forecast.to_numpy(), prices.loc["2024-01-07"].to_numpy())


def test_across_a_short_day_the_skipped_hour_is_left_out() -> None:
    index = pd.date_range("2024-03-30", "2024-04-01", freq="h", tz="Europe/Berlin", inclusive="left")
    prices = pd.Series(np.arange(len(index), dtype=np.float64), index=index)
    forecast = create_model("naive-daily").predict(prices, date(2024, 3, 31))
    assert len(forecast) == 23
    assert forecast.iloc[2] == prices.iloc[3]  # 03:00 on the short day takes 03:00 of the day before


def test_missing_history_is_an_error() -> None:
    prices = noisy_walk(5)
    with pytest.raises(InsufficientHistoryError):
        create_model("naive-weekly").predict(prices, date(2024, 1, 5))
