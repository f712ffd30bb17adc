"""The one interface every price model implements, so callers never depend on a concrete model."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

import pandas as pd


class InsufficientHistoryError(ValueError):
    """Raised when the prices before a day are too few for a model to fit or forecast it."""


@runtime_checkable
class PriceModel(Protocol):
    """A day-ahead price model: calibrate on past prices, forecast every period of one delivery day.

    Prices are a float Series on a tz-aware DatetimeIndex of delivery starts at a regular 60- or
    15-minute resolution, in the market's own time zone (a delivery day is a local calendar day).
    Exogenous inputs (e.g. load and wind day-ahead forecasts), when given, are a DataFrame on the same
    kind of index that also covers the forecast day, since such forecasts are known the day before.
    """

    name: str

    def fit(self, prices: pd.Series, exogenous: pd.DataFrame | None = None) -> None:
        """Calibrate on every price given (the caller chooses what is history)."""
        ...

    def predict(self, prices: pd.Series, day: date, exogenous: pd.DataFrame | None = None) -> pd.Series:
        """The forecast for every delivery period of `day`, made only from prices before that day starts."""
        ...

    def save(self, directory: Path) -> None:
        """Write the calibrated model to `directory` (created if missing)."""
        ...

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read a model written by `save`; it forecasts exactly as the saved one did."""
        ...
