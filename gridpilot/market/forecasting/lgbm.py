"""Gradient-boosted trees (LightGBM) on lagged prices and calendar features, one model across all periods.

Trees cannot extrapolate a price level they never saw, so the target and the lagged prices are taken
relative to the previous day's mean price and that level is added back to the forecast.

With `target="day-shape"` the day is split into its level and its shape, each with its own booster: one
predicts how far the day's mean moves from yesterday's, the other every period's distance from the day's
own mean. A battery's money depends on the shape (which hours are cheap and dear), and a shape target is
free of the day-to-day level noise that otherwise dominates the trees' loss.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd

from gridpilot.market.forecasting.base import InsufficientHistoryError
from gridpilot.market.forecasting.daily import (
    daily_matrix,
    market_timezone,
    periods_per_day,
    recent_days,
    resolution_of,
    to_delivery_series,
)
from gridpilot.market.forecasting.features import exogenous_matrices, exogenous_rows, lagged_rows
from gridpilot.market.forecasting.storage import read_manifest, write_manifest

PRICE_LAGS = (1, 2, 3, 7)
BOOSTER = "booster.txt"
LEVEL_BOOSTER = "level-booster.txt"
TARGETS = ("yesterday-level", "day-shape")
DAILY_COLUMNS = 6
"""The leading columns of a sample that are the same for every period of its day."""


class LgbmModel:
    """One LightGBM regressor over (day, period) pairs, recalibrated on a window of recent days."""

    name = "lgbm"

    def __init__(
        self,
        window_days: int = 728,
        rounds: int = 200,
        num_threads: int = 1,
        objective: str = "l1",
        seed: int = 7,
        target: str = "yesterday-level",
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
        self.target = target
        self.window_days = window_days
        self.rounds = rounds
        self.num_threads = num_threads
        self.objective = objective
        self.seed = seed
        self.exogenous_columns: list[str] = []
        self.periods = 0
        self.booster: lgb.Booster | None = None
        self.level_booster: lgb.Booster | None = None

    def samples(
        self, matrix: pd.DataFrame, exogenous: dict[str, pd.DataFrame], days: pd.DatetimeIndex
    ) -> tuple[np.ndarray, np.ndarray]:
        """A row per (day, period): features relative to the previous day's mean, and that mean (the level)."""
        periods = matrix.shape[1]
        lags = lagged_rows(matrix, days, PRICE_LAGS).reshape(len(days), len(PRICE_LAGS), periods)
        yesterday = lags[:, 0, :]
        level = yesterday.mean(axis=1)
        daily = np.column_stack(
            [
                level,
                yesterday[:, -1] - level,
                yesterday.min(axis=1) - level,
                yesterday.max(axis=1) - level,
                np.asarray(days.day_of_week, dtype=np.float64),
                np.asarray(days.day_of_year, dtype=np.float64),
            ]
        )
        exogenous_today = exogenous_rows(exogenous, self.exogenous_columns, days, (0,)).reshape(len(days), -1, periods)
        columns = [
            np.repeat(daily, periods, axis=0),
            np.tile(np.arange(periods, dtype=np.float64), len(days))[:, None],
            (lags - level[:, None, None]).transpose(0, 2, 1).reshape(-1, len(PRICE_LAGS)),
            exogenous_today.transpose(0, 2, 1).reshape(len(days) * periods, -1),
            np.repeat(exogenous_today.mean(axis=2), periods, axis=0),
        ]
        return np.hstack(columns), np.repeat(level, periods)

    def fit(self, prices: pd.Series, exogenous: pd.DataFrame | None = None) -> None:
        """Train on the last `window_days` days that have every lag."""
        matrix = daily_matrix(prices)
        self.periods = matrix.shape[1]
        self.exogenous_columns = [] if exogenous is None else [str(column) for column in exogenous.columns]
        features, level = self.samples(matrix, exogenous_matrices(exogenous), matrix.index)
        prices_by_sample = matrix.to_numpy().ravel()
        if self.target == "day-shape":
            day_mean = np.repeat(matrix.to_numpy().mean(axis=1), self.periods)
            daily_features, level_moves = self._daily(features, day_mean - level)
            self.level_booster = self._train(daily_features, level_moves, 1, self.level_parameters())
            self.booster = self._train(features, prices_by_sample - day_mean, self.periods, self.parameters())
        else:
            self.booster = self._train(features, prices_by_sample - level, self.periods, self.parameters())

    def _daily(self, features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One row per day: the day-wide columns of its first period's sample (the exogenous means are last)."""
        first_periods = features[:: self.periods]
        exogenous_means = first_periods[:, first_periods.shape[1] - len(self.exogenous_columns) :]
        return np.hstack([first_periods[:, :DAILY_COLUMNS], exogenous_means]), targets[:: self.periods]

    def _train(
        self, features: np.ndarray, targets: np.ndarray, rows_per_day: int, parameters: dict[str, Any]
    ) -> lgb.Booster:
        """A booster on the complete rows of the most recent `window_days` days."""
        complete = ~(np.isnan(features).any(axis=1) | np.isnan(targets))
        keep = self.window_days * rows_per_day
        features, targets = features[complete][-keep:], targets[complete][-keep:]
        if len(targets) < 28 * rows_per_day:
            raise InsufficientHistoryError(f"LightGBM needs 28 complete days, got {len(targets) // rows_per_day}")
        return lgb.train(parameters, lgb.Dataset(features, targets), num_boost_round=self.rounds)

    def parameters(self) -> dict[str, Any]:
        """Small, deterministic trees: fast enough to recalibrate every day of a backtest."""
        return {
            "objective": self.objective,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.8,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "verbosity": -1,
        }

    def level_parameters(self) -> dict[str, Any]:
        """Smaller trees for the day's level: one sample a day, a few hundred days."""
        return {**self.parameters(), "num_leaves": 7, "min_data_in_leaf": 10}

    def predict(self, prices: pd.Series, day: date, exogenous: pd.DataFrame | None = None) -> pd.Series:
        """The forecast of every period of `day` from the week of prices before it."""
        if self.booster is None:
            raise RuntimeError("fit the model before forecasting")
        history = recent_days(prices, day, max(PRICE_LAGS))
        if len(history) < 2:
            raise InsufficientHistoryError(f"LightGBM needs the {max(PRICE_LAGS)} days before {day}")
        resolution = resolution_of(history)
        if periods_per_day(resolution) != self.periods:
            raise ValueError(f"the model was fitted on {self.periods} periods a day; these prices have another count")
        days = pd.DatetimeIndex([pd.Timestamp(day)])
        features, level = self.samples(
            daily_matrix(history, resolution), exogenous_matrices(exogenous, until=day), days
        )
        if np.isnan(features).any():
            raise InsufficientHistoryError(f"prices or exogenous inputs LightGBM needs for {day} are missing")
        forecast = np.asarray(self.booster.predict(features), dtype=np.float64) + level
        if self.level_booster is not None:
            daily_features, _ = self._daily(features, level)
            forecast += np.asarray(self.level_booster.predict(daily_features), dtype=np.float64)[0]
        return to_delivery_series(forecast, day, market_timezone(prices), resolution)

    def save(self, directory: Path) -> None:
        """Settings in the manifest, the trees in LightGBM's own text format."""
        if self.booster is None:
            raise RuntimeError("fit the model before saving it")
        write_manifest(
            directory,
            self.name,
            {
                "window_days": self.window_days,
                "rounds": self.rounds,
                "num_threads": self.num_threads,
                "objective": self.objective,
                "seed": self.seed,
                "target": self.target,
                "exogenous_columns": self.exogenous_columns,
                "periods": self.periods,
            },
        )
        self.booster.save_model(str(directory / BOOSTER))
        if self.level_booster is not None:
            self.level_booster.save_model(str(directory / LEVEL_BOOSTER))

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild the booster from its text file."""
        settings = read_manifest(directory, cls.name)
        model = cls(
            window_days=settings["window_days"],
            rounds=settings["rounds"],
            num_threads=settings["num_threads"],
            objective=settings["objective"],
            seed=settings["seed"],
            target=settings.get("target", "yesterday-level"),
        )
        model.exogenous_columns = list(settings["exogenous_columns"])
        model.periods = int(settings["periods"])
        model.booster = lgb.Booster(model_file=str(directory / BOOSTER))
        if model.target == "day-shape":
            model.level_booster = lgb.Booster(model_file=str(directory / LEVEL_BOOSTER))
        return model


class LgbmShapeModel(LgbmModel):
    """LightGBM with the day's level and shape forecast apart (`target="day-shape"`): the money-oriented variant."""

    name = "lgbm-shape"

    def __init__(self, **options: Any) -> None:
        super().__init__(**{"target": "day-shape", **options})
