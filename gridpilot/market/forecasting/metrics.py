"""Forecast error measures of the EPF literature, so backtests and monitoring report the same numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import mean_absolute_error, root_mean_squared_error


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute error, in price units."""
    return float(mean_absolute_error(actual, forecast))


def rmse(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Root mean squared error: weighs the rare large misses (spikes) more than MAE."""
    return float(root_mean_squared_error(actual, forecast))


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Symmetric MAPE in percent, 2|y - ŷ| / (|y| + |ŷ|); a pair of zeros counts as no error."""
    actual_values, forecast_values = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    denominator = np.abs(actual_values) + np.abs(forecast_values)
    error = np.abs(actual_values - forecast_values)
    ratios = np.divide(2 * error, denominator, out=np.zeros_like(error), where=denominator > 0)
    return float(100 * ratios.mean())


def relative_mae(actual: ArrayLike, forecast: ArrayLike, naive: ArrayLike) -> float:
    """MAE divided by the MAE of a naive forecast of the same periods: below 1 beats the naive one (NaN if it is 0)."""
    naive_mae = mae(actual, naive)
    return mae(actual, forecast) / naive_mae if naive_mae > 0 else float("nan")


@dataclass(frozen=True)
class ErrorSummary:
    """The four measures a backtest reports, with the mean price that puts MAE in proportion."""

    mae: float
    rmae: float
    smape: float
    rmse: float
    mean_price: float

    @property
    def mae_percent_of_mean(self) -> float:
        """MAE as a share of the mean price (the specification asks for below 5 %)."""
        return 100 * self.mae / self.mean_price

    def as_dict(self) -> dict[str, float]:
        """Every figure by name, for printing and reports."""
        return {**asdict(self), "mae_percent_of_mean": self.mae_percent_of_mean}


def summarize(actual: ArrayLike, forecast: ArrayLike, naive: ArrayLike) -> ErrorSummary:
    """Every measure of one forecast; rMAE is relative to `naive` (the weekly naive by convention)."""
    return ErrorSummary(
        mae=mae(actual, forecast),
        rmae=relative_mae(actual, forecast, naive),
        smape=smape(actual, forecast),
        rmse=rmse(actual, forecast),
        mean_price=float(np.mean(np.asarray(actual, dtype=np.float64))),
    )
