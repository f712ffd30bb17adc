"""Seasonal naive forecasts: the yardsticks every other model must beat (rMAE divides by the weekly one)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Self

import pandas as pd

from gridpilot.market.forecasting.base import InsufficientHistoryError
from gridpilot.market.forecasting.daily import daily_matrix, market_timezone, recent_days, to_delivery_series
from gridpilot.market.forecasting.storage import read_manifest, write_manifest


class _SameTimeEarlier:
    """Forecast each period by the price of the same period `lag_days` earlier."""

    name: str
    lag_days: int

    def fit(self, prices: pd.Series, exogenous: pd.DataFrame | None = None) -> None:
        """Nothing to calibrate: the forecast is a past price."""

    def predict(self, prices: pd.Series, day: date, exogenous: pd.DataFrame | None = None) -> pd.Series:
        """The prices of the same periods `lag_days` before `day`."""
        tz = market_timezone(prices)
        history = recent_days(prices, day, self.lag_days)
        source = pd.Timestamp(day - timedelta(days=self.lag_days))
        if len(history) < 2:
            raise InsufficientHistoryError(f"{self.name} needs the prices of {source.date()} to forecast {day}")
        matrix = daily_matrix(history)
        if source not in matrix.index or matrix.loc[source].isna().any():
            raise InsufficientHistoryError(f"{self.name} needs the prices of {source.date()} to forecast {day}")
        resolution = pd.Timedelta(days=1) / matrix.shape[1]
        return to_delivery_series(matrix.loc[source].to_numpy(), day, tz, resolution)

    def save(self, directory: Path) -> None:
        """Record only which naive model this is."""
        write_manifest(directory, self.name, {})

    @classmethod
    def load(cls, directory: Path) -> Self:
        """A naive model has no state; check the directory holds this kind."""
        read_manifest(directory, cls.name)
        return cls()


class NaiveDaily(_SameTimeEarlier):
    """Same period yesterday."""

    name = "naive-daily"
    lag_days = 1


class NaiveWeekly(_SameTimeEarlier):
    """Same period on the same weekday last week: the reference of the relative MAE."""

    name = "naive-weekly"
    lag_days = 7
