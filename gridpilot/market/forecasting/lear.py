"""LEAR (Lago et al. 2021): a LASSO per delivery period on asinh-scaled lagged prices, averaged over windows.

Each delivery period p of day d gets its own linear model on the prices of days d-1, d-2, d-3 and d-7
(every period), exogenous day-ahead inputs of days d, d-1 and d-7 when given, and weekday dummies. Its
L1 penalty is chosen by AIC along the LARS path, as sklearn's LassoLarsIC does (the path's coefficients at
the chosen penalty are the lasso solution there, so epftoolbox's refit with `Lasso` is not repeated). One model is
calibrated on each window of recent days (56, 84, 1092 and 1456 by default, each cut to the history
there is and deduplicated) and the forecasts are averaged.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path_gram

from gridpilot.market.forecasting.base import InsufficientHistoryError
from gridpilot.market.forecasting.daily import (
    daily_matrix,
    market_timezone,
    periods_per_day,
    recent_days,
    resolution_of,
    to_delivery_series,
)
from gridpilot.market.forecasting.features import (
    EXOGENOUS_LAGS,
    exogenous_matrices,
    exogenous_rows,
    lagged_rows,
    weekday_dummies,
)
from gridpilot.market.forecasting.storage import read_manifest, write_manifest
from gridpilot.market.forecasting.transforms import AsinhScaler

PRICE_LAGS = (1, 2, 3, 7)
DEFAULT_WINDOWS = (56, 84, 1092, 1456)
ARRAYS = "calibrations.npz"


@dataclass
class Calibration:
    """One window's fitted LASSOs: the scalers of inputs and prices, and a coefficient row per period."""

    window: int
    x_scaler: AsinhScaler
    y_scaler: AsinhScaler
    coef: np.ndarray
    intercept: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Prices for each row of unscaled features (the last 7 columns are weekday dummies)."""
        scaled = np.hstack([self.x_scaler.transform(features[:, :-7]), features[:, -7:]])
        return self.y_scaler.inverse_transform(scaled @ self.coef.T + self.intercept)


def fit_period_lassos(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One AIC-tuned LASSO per target column, as `LassoLarsIC(criterion="aic")` with the target's variance as noise.

    Every period shares the inputs, so the LARS paths run on one Gram matrix (`lars_path_gram`) instead of
    refitting from the raw inputs 24 times; the result equals LassoLarsIC's to rounding (a test checks it).
    """
    samples = len(inputs)
    input_mean, target_mean = inputs.mean(axis=0), targets.mean(axis=0)
    centred_inputs, centred_targets = inputs - input_mean, targets - target_mean
    gram = centred_inputs.T @ centred_inputs
    covariances = centred_inputs.T @ centred_targets
    sums_of_squares = (centred_targets**2).sum(axis=0)
    coef = np.zeros((targets.shape[1], inputs.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # lagged prices are collinear: LARS reports it
        for period in range(targets.shape[1]):
            _, _, path = lars_path_gram(covariances[:, period], gram, n_samples=samples, method="lasso", max_iter=2500)
            residual = sums_of_squares[period] - 2 * covariances[:, period] @ path
            residual += np.einsum("fk,fg,gk->k", path, gram, path)
            nonzero = (np.abs(path) > np.finfo(np.float64).eps).sum(axis=0)
            noise_variance = max(sums_of_squares[period] / samples, 1e-12)
            coef[period] = path[:, np.argmin(residual / noise_variance + 2 * nonzero)]
    return coef, target_mean - coef @ input_mean


class LearModel:
    """The LEAR ensemble over calibration windows; recalibrate with `fit` before each forecast day."""

    name = "lear"

    def __init__(self, windows: Sequence[int] = DEFAULT_WINDOWS, min_window: int = 28) -> None:
        if not windows or min(windows) < min_window:
            raise ValueError(f"every calibration window must hold at least {min_window} days")
        self.windows = tuple(sorted(windows))
        self.min_window = min_window
        self.exogenous_columns: list[str] = []
        self.periods = 0
        self.calibrations: list[Calibration] = []

    def features(self, matrix: pd.DataFrame, exogenous: dict[str, pd.DataFrame], days: pd.DatetimeIndex) -> np.ndarray:
        """Lagged prices, lagged exogenous inputs and weekday dummies (last) for each of `days`."""
        return np.hstack(
            [
                lagged_rows(matrix, days, PRICE_LAGS),
                exogenous_rows(exogenous, self.exogenous_columns, days, EXOGENOUS_LAGS),
                weekday_dummies(days),
            ]
        )

    def fit(self, prices: pd.Series, exogenous: pd.DataFrame | None = None) -> None:
        """Calibrate one LASSO set per window on the most recent days that have every input."""
        matrix = daily_matrix(prices)
        self.periods = matrix.shape[1]
        self.exogenous_columns = [] if exogenous is None else [str(column) for column in exogenous.columns]
        inputs = self.features(matrix, exogenous_matrices(exogenous), matrix.index)
        targets = matrix.to_numpy()
        complete = ~(np.isnan(inputs).any(axis=1) | np.isnan(targets).any(axis=1))
        inputs, targets = inputs[complete], targets[complete]
        if len(targets) < self.min_window:
            raise InsufficientHistoryError(f"LEAR needs {self.min_window} complete days, got {len(targets)}")
        self.calibrations = []
        for window in sorted({min(window, len(targets)) for window in self.windows}):
            x_scaler, y_scaler = AsinhScaler().fit(inputs[-window:, :-7]), AsinhScaler().fit(targets[-window:])
            scaled = np.hstack([x_scaler.transform(inputs[-window:, :-7]), inputs[-window:, -7:]])
            coef, intercept = fit_period_lassos(scaled, y_scaler.transform(targets[-window:]))
            self.calibrations.append(Calibration(window, x_scaler, y_scaler, coef, intercept))

    def predict(self, prices: pd.Series, day: date, exogenous: pd.DataFrame | None = None) -> pd.Series:
        """The average of every window's forecast for `day`, from the week of prices before it."""
        if not self.calibrations:
            raise RuntimeError("fit the model before forecasting")
        history = recent_days(prices, day, max(PRICE_LAGS))
        if len(history) < 2:
            raise InsufficientHistoryError(f"LEAR needs the {max(PRICE_LAGS)} days before {day}")
        resolution = resolution_of(history)
        if periods_per_day(resolution) != self.periods:
            raise ValueError(f"the model was fitted on {self.periods} periods a day; these prices have another count")
        days = pd.DatetimeIndex([pd.Timestamp(day)])
        row = self.features(daily_matrix(history, resolution), exogenous_matrices(exogenous, until=day), days)
        if np.isnan(row).any():
            raise InsufficientHistoryError(f"some prices or exogenous inputs LEAR needs to forecast {day} are missing")
        forecast = np.mean([calibration.predict(row)[0] for calibration in self.calibrations], axis=0)
        return to_delivery_series(forecast, day, market_timezone(prices), resolution)

    def save(self, directory: Path) -> None:
        """Settings in the manifest, every window's scalers and coefficients in one .npz (no pickle)."""
        write_manifest(
            directory,
            self.name,
            {
                "windows": list(self.windows),
                "min_window": self.min_window,
                "exogenous_columns": self.exogenous_columns,
                "periods": self.periods,
                "fitted_windows": [calibration.window for calibration in self.calibrations],
            },
        )
        arrays: dict[str, Any] = {}  # Any: numpy's savez stubs mistake **arrays for its own flags
        for number, calibration in enumerate(self.calibrations):
            arrays[f"{number}_x_median"], arrays[f"{number}_x_scale"] = calibration.x_scaler.parameters()
            arrays[f"{number}_y_median"], arrays[f"{number}_y_scale"] = calibration.y_scaler.parameters()
            arrays[f"{number}_coef"], arrays[f"{number}_intercept"] = calibration.coef, calibration.intercept
        np.savez(directory / ARRAYS, **arrays)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild the calibrations exactly as saved."""
        settings = read_manifest(directory, cls.name)
        model = cls(windows=settings["windows"], min_window=settings["min_window"])
        model.exogenous_columns = list(settings["exogenous_columns"])
        model.periods = int(settings["periods"])
        with np.load(directory / ARRAYS) as arrays:
            model.calibrations = [
                Calibration(
                    window,
                    AsinhScaler(arrays[f"{number}_x_median"], arrays[f"{number}_x_scale"]),
                    AsinhScaler(arrays[f"{number}_y_median"], arrays[f"{number}_y_scale"]),
                    arrays[f"{number}_coef"],
                    arrays[f"{number}_intercept"],
                )
                for number, window in enumerate(settings["fitted_windows"])
            ]
        return model
