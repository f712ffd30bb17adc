"""LightGBM's day-shape target: no look-ahead, save and load, and what it learns."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.forecasting import load_model
from gridpilot.market.forecasting.daily import before_day
from gridpilot.market.forecasting.lgbm import LgbmModel, LgbmShapeModel
from gridpilot.market.forecasting.shape import day_shape
from tests.market.forecasting.synthetic import noisy_walk, weekly_pattern

DAY = date(2024, 5, 15)


def fitted(prices: pd.Series) -> LgbmModel:
    """A plain `lgbm` with the day-shape target (`lgbm-shape` is the same with its own registry name)."""
    model = LgbmModel(rounds=60, window_days=120, target="day-shape")
    model.fit(before_day(prices, DAY))
    return model


def test_the_days_own_prices_never_reach_its_forecast() -> None:
    prices = noisy_walk(140)
    model = fitted(prices)
    leaked = prices.copy()
    leaked[leaked.index >= pd.Timestamp(DAY, tz="UTC")] = 10_000.0

    honest = model.predict(prices, DAY).to_numpy()

    assert np.array_equal(model.predict(leaked, DAY).to_numpy(), honest)
    assert np.array_equal(model.predict(before_day(prices, DAY), DAY).to_numpy(), honest)


def test_save_and_load_forecast_identically(tmp_path: Path) -> None:
    prices = noisy_walk(140)
    model = fitted(prices)
    model.save(tmp_path)

    loaded = load_model("lgbm", tmp_path)

    assert isinstance(loaded, LgbmModel) and loaded.target == "day-shape"
    assert np.array_equal(loaded.predict(prices, DAY).to_numpy(), model.predict(prices, DAY).to_numpy())


def test_the_day_shape_target_learns_a_weekly_shape() -> None:
    prices = weekly_pattern(140)
    day = date(2024, 5, 13)
    model = LgbmModel(target="day-shape")
    model.fit(before_day(prices, day))

    forecast = model.predict(prices, day).to_numpy()
    actual = prices.loc["2024-05-13"].to_numpy()

    assert np.abs(day_shape(forecast) - day_shape(actual)).mean() < 0.5
    yesterday = prices.loc["2024-05-12"].to_numpy()
    assert np.abs(day_shape(yesterday) - day_shape(actual)).mean() > 2.0  # Sunday's shape differs


def test_an_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown target"):
        LgbmModel(target="ranks")


def test_lgbm_shape_is_lgbm_with_the_day_shape_target() -> None:
    assert LgbmShapeModel().target == "day-shape" and LgbmShapeModel.name == "lgbm-shape"
    assert LgbmModel().target == "yesterday-level"
