"""The daily matrix and its DST rule: 23-hour days repeat the hour before the gap, 25-hour days average."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.forecasting.base import InsufficientHistoryError
from gridpilot.market.forecasting.daily import (
    before_day,
    daily_matrix,
    delivery_starts,
    recent_days,
    resolution_of,
    to_delivery_series,
)

BERLIN = "Europe/Berlin"


def counting(start: str, end: str, tz: str, freq: str = "h") -> pd.Series:
    index = pd.date_range(start, end, freq=freq, tz=tz, inclusive="left")
    return pd.Series(np.arange(len(index), dtype=np.float64), index=index)


def test_regular_days_become_rows_of_24() -> None:
    matrix = daily_matrix(counting("2024-01-01", "2024-01-04", "UTC"))
    assert matrix.shape == (3, 24)
    assert matrix.iloc[1].tolist() == list(range(24, 48))
    assert matrix.index[0] == pd.Timestamp("2024-01-01")


def test_quarter_hours_become_rows_of_96() -> None:
    prices = counting("2024-01-01", "2024-01-03", BERLIN, "15min")
    assert resolution_of(prices) == pd.Timedelta(minutes=15)
    assert daily_matrix(prices).shape == (2, 96)


def test_short_day_repeats_the_hour_before_the_skipped_one() -> None:
    prices = counting("2024-03-31", "2024-04-01", BERLIN)
    assert len(prices) == 23
    row = daily_matrix(prices).iloc[0]
    assert row[1] == 1 and row[2] == 1 and row[3] == 2 and row[23] == 22


def test_long_day_averages_the_repeated_hour() -> None:
    prices = counting("2024-10-27", "2024-10-28", BERLIN)
    assert len(prices) == 25
    row = daily_matrix(prices).iloc[0]
    assert row[1] == 1 and row[2] == 2.5 and row[3] == 4 and row[23] == 24


def test_a_gap_that_is_not_dst_stays_unknown() -> None:
    prices = counting("2024-01-01", "2024-01-04", "UTC").drop(pd.Timestamp("2024-01-02 05:00", tz="UTC"))
    prices = prices.drop(prices.loc["2024-01-03"].index[:-1])
    matrix = daily_matrix(prices)
    assert np.isnan(matrix.iloc[1, 5])
    assert matrix.iloc[2].isna().sum() == 23


@pytest.mark.parametrize(("day", "hours"), [(date(2024, 3, 31), 23), (date(2024, 10, 27), 25), (date(2024, 6, 1), 24)])
def test_forecast_rows_map_back_to_the_real_delivery_starts(day: date, hours: int) -> None:
    tz = pd.Timestamp("2024-01-01", tz=BERLIN).tz
    series = to_delivery_series(np.arange(24.0), day, tz, pd.Timedelta(hours=1))
    assert len(series) == hours
    assert series.index.equals(delivery_starts(day, tz, pd.Timedelta(hours=1)))
    wall_hours = series.index.hour.to_numpy()
    assert (series.to_numpy() == wall_hours).all()


def test_history_stops_before_the_day_starts() -> None:
    prices = counting("2024-01-01", "2024-01-10", BERLIN)
    history = before_day(prices, date(2024, 1, 5))
    assert history.index[-1] == pd.Timestamp("2024-01-04 23:00", tz=BERLIN)
    recent = recent_days(prices, date(2024, 1, 5), 2)
    assert recent.index[0] == pd.Timestamp("2024-01-03 00:00", tz=BERLIN) and len(recent) == 48


def test_naive_timestamps_and_odd_resolutions_are_refused() -> None:
    naive = pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2, freq="h"))
    with pytest.raises(ValueError, match="tz-aware"):
        daily_matrix(naive)
    odd = pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2, freq="7h", tz="UTC"))
    with pytest.raises(ValueError, match="does not divide a day"):
        daily_matrix(odd)
    with pytest.raises(InsufficientHistoryError):
        resolution_of(naive.iloc[:1].tz_localize("UTC"))
