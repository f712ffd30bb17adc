"""Inputs of the regression models, built for many days at once from daily matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from gridpilot.market.forecasting.daily import daily_matrix, day_start, market_timezone

EXOGENOUS_LAGS = (0, 1, 7)
"""Day-ahead inputs (load, wind forecasts) of the forecast day itself, the day before and a week before, as in
the LEAR and DNN of Lago et al. (2021)."""


def lagged_rows(matrix: pd.DataFrame, days: pd.DatetimeIndex, lags: Sequence[int]) -> np.ndarray:
    """For each day, the rows of `matrix` `lag` days earlier, side by side (NaN where unknown)."""
    blocks = [matrix.reindex(days - pd.Timedelta(days=lag)).to_numpy() for lag in lags]
    return np.hstack(blocks) if blocks else np.empty((len(days), 0))


def weekday_dummies(days: pd.DatetimeIndex) -> np.ndarray:
    """One 0/1 column per weekday, Monday first."""
    weekdays = np.asarray(days.day_of_week)[:, None] == np.arange(7)[None, :]
    return np.asarray(weekdays, dtype=np.float64)


def exogenous_matrices(exogenous: pd.DataFrame | None, until: date | None = None) -> dict[str, pd.DataFrame]:
    """Each exogenous column as a daily matrix, cut after day `until` (day-ahead inputs cover the forecast day)."""
    if exogenous is None or exogenous.shape[1] == 0:
        return {}
    if until is not None:
        exogenous = exogenous[exogenous.index < day_start(until + timedelta(days=1), market_timezone(exogenous))]
    return {str(column): daily_matrix(exogenous[column].astype(np.float64)) for column in exogenous.columns}


def exogenous_rows(
    matrices: Mapping[str, pd.DataFrame], columns: Sequence[str], days: pd.DatetimeIndex, lags: Sequence[int]
) -> np.ndarray:
    """The lagged rows of each exogenous input in `columns` order; a missing input is an error, not a zero."""
    missing = [column for column in columns if column not in matrices]
    if missing:
        raise ValueError(f"exogenous inputs {missing} were used to fit the model but are not given")
    blocks = [lagged_rows(matrices[column], days, lags) for column in columns]
    return np.hstack(blocks) if blocks else np.empty((len(days), 0))
