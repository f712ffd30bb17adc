"""Prices as a days × periods matrix in market time, and back, with one rule for 23- and 25-hour days.

Models see every delivery day as a row of the same length (24 hourly or 96 quarter-hourly periods),
indexed by wall-clock position. On the short day of spring (e.g. 02:00-03:00 never happens) the
missing position takes the price of the position before it; on the long day of autumn the two
deliveries of the repeated position are averaged. Mapping a forecast back to the real delivery starts
of a day undoes this: the skipped position is dropped and the repeated one gets the same value twice.
"""

from __future__ import annotations

from datetime import date, timedelta, tzinfo

import numpy as np
import pandas as pd

from gridpilot.market.forecasting.base import InsufficientHistoryError

ONE_DAY = pd.Timedelta(days=1)


def market_timezone(prices: pd.Series | pd.DataFrame) -> tzinfo:
    """The time zone of a price index, refusing naive timestamps whose delivery day would be ambiguous."""
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("prices need a tz-aware DatetimeIndex in the market's time zone")
    timezone: tzinfo = index.tz
    return timezone


def resolution_of(prices: pd.Series | pd.DataFrame) -> pd.Timedelta:
    """The delivery period length: the most common step between timestamps, which must divide a day."""
    market_timezone(prices)
    if len(prices.index) < 2:
        raise InsufficientHistoryError("at least two prices are needed to know their resolution")
    steps = pd.Series(prices.index[1:] - prices.index[:-1])
    resolution = pd.Timedelta(steps.mode().iloc[0])
    if resolution <= pd.Timedelta(0) or ONE_DAY % resolution != pd.Timedelta(0):
        raise ValueError(f"a resolution of {resolution} does not divide a day into delivery periods")
    return resolution


def periods_per_day(resolution: pd.Timedelta) -> int:
    """24 for hourly prices, 96 for quarter-hourly ones."""
    return int(ONE_DAY // resolution)


def day_start(day: date, tz: tzinfo) -> pd.Timestamp:
    """The instant the delivery day begins (local midnight, or the first instant after it if skipped)."""
    return pd.Timestamp(day).tz_localize(tz, nonexistent="shift_forward", ambiguous=True)


def before_day(prices: pd.Series, day: date) -> pd.Series:
    """Only the prices delivered before `day` starts: what a forecast for that day may know."""
    return prices[prices.index < day_start(day, market_timezone(prices))]


def recent_days(prices: pd.Series, day: date, days: int) -> pd.Series:
    """The prices of the `days` delivery days just before `day` (nothing of `day` itself or later)."""
    tz = market_timezone(prices)
    first = day_start(day - timedelta(days=days), tz)
    return prices[(prices.index >= first) & (prices.index < day_start(day, tz))]


def daily_matrix(prices: pd.Series, resolution: pd.Timedelta | None = None) -> pd.DataFrame:
    """A row per local delivery day (each day from first to last, NaN where unknown), a column per period."""
    tz = market_timezone(prices)
    resolution = resolution_of(prices) if resolution is None else resolution
    count = periods_per_day(resolution)
    wall = prices.index.tz_localize(None)
    days = wall.normalize()
    slots = np.asarray((wall - days) // resolution, dtype=np.int64)
    values = pd.Series(np.asarray(prices, dtype=np.float64), index=pd.MultiIndex.from_arrays([days, slots]))
    all_days = pd.date_range(days.min(), days.max(), freq="D")
    matrix = values.groupby(level=[0, 1]).mean().unstack().reindex(index=all_days, columns=range(count))
    grid = (all_days.to_numpy()[:, None] + (np.arange(count) * resolution.to_timedelta64())[None, :]).ravel()
    skipped = pd.DatetimeIndex(grid).tz_localize(tz, nonexistent="NaT", ambiguous="NaT").isna()
    skipped_slots = skipped.reshape(len(all_days), count) & matrix.isna().to_numpy()
    if skipped_slots.any():
        filled = matrix.ffill(axis=1).bfill(axis=1)
        matrix = matrix.mask(skipped_slots, filled)
    matrix.columns = pd.RangeIndex(count)
    return matrix


def delivery_starts(day: date, tz: tzinfo, resolution: pd.Timedelta) -> pd.DatetimeIndex:
    """The real delivery starts of one local day: 23, 24 or 25 hours' worth of periods."""
    return pd.date_range(day_start(day, tz), day_start(day + timedelta(days=1), tz), freq=resolution, inclusive="left")


def to_delivery_series(values: np.ndarray, day: date, tz: tzinfo, resolution: pd.Timedelta) -> pd.Series:
    """A row of per-position values as a Series on the day's real delivery starts."""
    index = delivery_starts(day, tz, resolution)
    slots = np.asarray((index.tz_localize(None) - pd.Timestamp(day)) // resolution, dtype=np.int64)
    return pd.Series(np.asarray(values, dtype=np.float64)[slots], index=index, name="forecast")
