"""A small feed-forward network on lagged prices, after the DNN of Lago et al. (2021), averaged over seeds.

The inputs are those of the published DNN: the prices of days d-1, d-2, d-3 and d-7 (every period), the
exogenous day-ahead inputs of days d, d-1 and d-7 when given (load and wind forecasts in the paper) and the
weekday, standardized with the asinh transform of LEAR, and by default
(`target="prices"`, the published set-up) one output per period: its transformed price. With
`target="day-shape"` the day is split into its level and its shape as in `lgbm-shape`: the network predicts how
far the day's mean moves from yesterday's and every period's distance from the day's own mean, from lags taken
relative to yesterday's mean. On the validation half-year both captured about the same money on their own and
`prices` a little more in the mean with LEAR and `lgbm-shape` (docs/benchmarks.md).

scikit-learn's `MLPRegressor` is trained once per seed and the networks' forecasts are averaged (the published
DNN Ensemble averages four). Forecasts come from the networks' weights, which is also what `save` stores, so a
loaded model forecasts exactly as the fitted one.
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
from sklearn.neural_network import MLPRegressor

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
TARGETS = ("prices", "day-shape")
SOLVERS = ("lbfgs", "adam")
ARRAYS = "networks.npz"


@dataclass
class Network:
    """One trained network's weights: a ReLU hidden stack and a linear output layer."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """The network's outputs for scaled inputs (the same forward pass as `MLPRegressor.predict`)."""
        activations = inputs
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            activations = activations @ weight + bias
            if layer < len(self.weights) - 1:
                activations = np.maximum(activations, 0.0)
        return activations


class MlpModel:
    """A seed ensemble of small MLPs over days (one output per period), recalibrated on a window of recent days."""

    name = "mlp"

    def __init__(
        self,
        hidden: Sequence[int] = (64,),
        seeds: Sequence[int] = (1, 2, 3, 4),
        window_days: int = 728,
        alpha: float = 1.0,
        max_iter: int = 200,
        solver: str = "lbfgs",
        target: str = "prices",
        min_days: int = 28,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
        if not seeds:
            raise ValueError("the MLP needs at least one seed")
        self.hidden = tuple(int(units) for units in hidden)
        self.seeds = tuple(int(seed) for seed in seeds)
        self.window_days = window_days
        self.alpha = alpha
        self.max_iter = max_iter
        self.solver = solver
        self.target = target
        self.min_days = min_days
        self.periods = 0
        self.exogenous_columns: list[str] = []
        self.x_scaler: AsinhScaler | None = None
        self.y_scaler: AsinhScaler | None = None
        self.networks: list[Network] = []

    def samples(
        self, matrix: pd.DataFrame, exogenous: dict[str, pd.DataFrame], days: pd.DatetimeIndex
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unscaled inputs per day (weekday dummies last) and the day's level: yesterday's mean price."""
        lags = lagged_rows(matrix, days, PRICE_LAGS)
        level = lags[:, : matrix.shape[1]].mean(axis=1)
        if self.target == "day-shape":
            lags = np.hstack([lags - level[:, None], level[:, None]])
        day_ahead = exogenous_rows(exogenous, self.exogenous_columns, days, EXOGENOUS_LAGS)
        return np.hstack([lags, day_ahead, weekday_dummies(days)]), level

    def targets(self, matrix: pd.DataFrame, level: np.ndarray) -> np.ndarray:
        """What the networks learn: each period's distance from its day's mean and the level's move, or the prices."""
        prices = np.asarray(matrix.to_numpy(), dtype=np.float64)
        if self.target == "prices":
            return prices
        day_mean = prices.mean(axis=1)
        return np.hstack([prices - day_mean[:, None], (day_mean - level)[:, None]])

    def fit(self, prices: pd.Series, exogenous: pd.DataFrame | None = None) -> None:
        """Train one network per seed on the last `window_days` days that have every input."""
        matrix = daily_matrix(prices)
        self.periods = matrix.shape[1]
        self.exogenous_columns = [] if exogenous is None else [str(column) for column in exogenous.columns]
        inputs, level = self.samples(matrix, exogenous_matrices(exogenous), matrix.index)
        targets = self.targets(matrix, level)
        complete = ~(np.isnan(inputs).any(axis=1) | np.isnan(targets).any(axis=1))
        inputs, targets = inputs[complete][-self.window_days :], targets[complete][-self.window_days :]
        if len(targets) < self.min_days:
            raise InsufficientHistoryError(f"the MLP needs {self.min_days} complete days, got {len(targets)}")
        self.x_scaler = AsinhScaler().fit(inputs[:, :-7])
        self.y_scaler = AsinhScaler().fit(targets)
        scaled_inputs = np.hstack([self.x_scaler.transform(inputs[:, :-7]), inputs[:, -7:]])
        scaled_targets = self.y_scaler.transform(targets)
        self.networks = [self._train(scaled_inputs, scaled_targets, seed) for seed in self.seeds]

    def _train(self, inputs: np.ndarray, targets: np.ndarray, seed: int) -> Network:
        """One network from one seed; its weights only."""
        options: dict[str, Any] = {"solver": self.solver, "max_iter": self.max_iter}
        if self.solver == "adam":
            options.update(early_stopping=True, validation_fraction=0.15, n_iter_no_change=20, learning_rate_init=1e-3)
        regressor = MLPRegressor(hidden_layer_sizes=self.hidden, alpha=self.alpha, random_state=seed, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a capped iteration count is the regularization
            regressor.fit(inputs, targets)
        return Network(
            [np.asarray(weight, dtype=np.float64) for weight in regressor.coefs_],
            [np.asarray(bias, dtype=np.float64) for bias in regressor.intercepts_],
        )

    def predict(self, prices: pd.Series, day: date, exogenous: pd.DataFrame | None = None) -> pd.Series:
        """The networks' mean forecast for `day`, from the week of prices before it."""
        if not self.networks or self.x_scaler is None or self.y_scaler is None:
            raise RuntimeError("fit the model before forecasting")
        history = recent_days(prices, day, max(PRICE_LAGS))
        if len(history) < 2:
            raise InsufficientHistoryError(f"the MLP needs the {max(PRICE_LAGS)} days before {day}")
        resolution = resolution_of(history)
        if periods_per_day(resolution) != self.periods:
            raise ValueError(f"the model was fitted on {self.periods} periods a day; these prices have another count")
        row, level = self.samples(
            daily_matrix(history, resolution),
            exogenous_matrices(exogenous, until=day),
            pd.DatetimeIndex([pd.Timestamp(day)]),
        )
        if np.isnan(row).any():
            raise InsufficientHistoryError(
                f"some prices or exogenous inputs the MLP needs to forecast {day} are missing"
            )
        scaled = np.hstack([self.x_scaler.transform(row[:, :-7]), row[:, -7:]])
        outputs = np.mean([self.y_scaler.inverse_transform(network.predict(scaled))[0] for network in self.networks], 0)
        if self.target == "prices":
            forecast = outputs
        else:
            shape = outputs[: self.periods]
            forecast = shape - shape.mean() + level[0] + outputs[self.periods]
        return to_delivery_series(forecast, day, market_timezone(prices), resolution)

    def save(self, directory: Path) -> None:
        """Settings in the manifest; scalers and every network's weights in one .npz (no pickle)."""
        if not self.networks or self.x_scaler is None or self.y_scaler is None:
            raise RuntimeError("fit the model before saving it")
        write_manifest(
            directory,
            self.name,
            {
                "hidden": list(self.hidden),
                "seeds": list(self.seeds),
                "window_days": self.window_days,
                "alpha": self.alpha,
                "max_iter": self.max_iter,
                "solver": self.solver,
                "target": self.target,
                "min_days": self.min_days,
                "periods": self.periods,
                "exogenous_columns": self.exogenous_columns,
            },
        )
        arrays: dict[str, Any] = {}  # Any: numpy's savez stubs mistake **arrays for its own flags
        arrays["x_median"], arrays["x_scale"] = self.x_scaler.parameters()
        arrays["y_median"], arrays["y_scale"] = self.y_scaler.parameters()
        for number, network in enumerate(self.networks):
            for layer, (weight, bias) in enumerate(zip(network.weights, network.biases, strict=True)):
                arrays[f"{number}_{layer}_weight"], arrays[f"{number}_{layer}_bias"] = weight, bias
        np.savez(directory / ARRAYS, **arrays)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild the scalers and networks exactly as saved."""
        settings = read_manifest(directory, cls.name)
        model = cls(
            hidden=settings["hidden"],
            seeds=settings["seeds"],
            window_days=settings["window_days"],
            alpha=settings["alpha"],
            max_iter=settings["max_iter"],
            solver=settings["solver"],
            target=settings["target"],
            min_days=settings["min_days"],
        )
        model.periods = int(settings["periods"])
        model.exogenous_columns = list(settings.get("exogenous_columns", []))
        layers = len(model.hidden) + 1
        with np.load(directory / ARRAYS) as arrays:
            model.x_scaler = AsinhScaler(arrays["x_median"], arrays["x_scale"])
            model.y_scaler = AsinhScaler(arrays["y_median"], arrays["y_scale"])
            model.networks = [
                Network(
                    [arrays[f"{number}_{layer}_weight"] for layer in range(layers)],
                    [arrays[f"{number}_{layer}_bias"] for layer in range(layers)],
                )
                for number in range(len(model.seeds))
            ]
        return model
