"""The seed-averaged MLP: shapes, determinism, no look-ahead, save and load, and what it learns."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.forecasting import InsufficientHistoryError, create_model, load_model
from gridpilot.market.forecasting.daily import before_day
from gridpilot.market.forecasting.ensemble import MEMBER_TYPES
from gridpilot.market.forecasting.mlp import MlpModel
from gridpilot.market.forecasting.shape import day_shape
from gridpilot.market.forecasting.storage import MANIFEST
from tests.market.forecasting.synthetic import noisy_walk, weekly_pattern

DAY = date(2024, 5, 15)
FAST: dict[str, Any] = {"seeds": (1, 2), "max_iter": 100, "window_days": 120}


def fitted(prices: pd.Series, **options: Any) -> MlpModel:
    model = MlpModel(**{**FAST, **options})
    model.fit(before_day(prices, DAY))
    return model


@pytest.mark.parametrize("target", ["day-shape", "prices"])
def test_a_forecast_covers_every_period_of_the_day(target: str) -> None:
    prices = noisy_walk(140)

    forecast = fitted(prices, target=target).predict(prices, DAY)

    assert forecast.index.equals(prices.loc[str(DAY)].index)
    assert forecast.notna().all() and len(forecast) == 24
    naive_error = np.abs(prices.loc["2024-05-14"].to_numpy() - prices.loc[str(DAY)].to_numpy()).mean()
    assert np.abs(forecast.to_numpy() - prices.loc[str(DAY)].to_numpy()).mean() < 2 * naive_error


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_the_same_seeds_give_the_same_forecast(solver: str) -> None:
    prices = noisy_walk(140)

    first = fitted(prices, solver=solver).predict(prices, DAY).to_numpy()
    second = fitted(prices, solver=solver).predict(prices, DAY).to_numpy()
    other_seeds = fitted(prices, solver=solver, seeds=(5, 6)).predict(prices, DAY).to_numpy()

    assert np.array_equal(first, second)
    assert not np.array_equal(first, other_seeds)


def test_the_forecast_is_the_mean_of_one_network_per_seed() -> None:
    prices = noisy_walk(140)

    both = fitted(prices).predict(prices, DAY).to_numpy()
    singles = [fitted(prices, seeds=(seed,)).predict(prices, DAY).to_numpy() for seed in FAST["seeds"]]

    np.testing.assert_allclose(both, np.mean(singles, axis=0), rtol=1e-12)


def test_the_days_own_prices_never_reach_its_forecast() -> None:
    prices = noisy_walk(140)
    model = fitted(prices)
    leaked = prices.copy()
    leaked[leaked.index >= pd.Timestamp(DAY, tz="UTC")] = 10_000.0

    honest = model.predict(prices, DAY).to_numpy()

    assert np.array_equal(model.predict(leaked, DAY).to_numpy(), honest)
    assert np.array_equal(model.predict(before_day(prices, DAY), DAY).to_numpy(), honest)


@pytest.mark.parametrize("target", ["day-shape", "prices"])
def test_save_and_load_forecast_identically(target: str, tmp_path: Path) -> None:
    prices = noisy_walk(140)
    model = fitted(prices, target=target, hidden=(16, 8))
    model.save(tmp_path)

    loaded = load_model("mlp", tmp_path)

    assert isinstance(loaded, MlpModel)
    assert (loaded.target, loaded.hidden, loaded.seeds) == (target, (16, 8), FAST["seeds"])
    assert np.array_equal(loaded.predict(prices, DAY).to_numpy(), model.predict(prices, DAY).to_numpy())


def test_a_model_saved_before_exogenous_inputs_loads_as_prices_only(tmp_path: Path) -> None:
    prices = noisy_walk(140)
    model = fitted(prices)
    model.save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    del manifest["settings"]["exogenous_columns"]  # as the versions before exogenous inputs wrote it
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))

    loaded = load_model("mlp", tmp_path)

    assert isinstance(loaded, MlpModel) and loaded.exogenous_columns == []
    assert np.array_equal(loaded.predict(prices, DAY).to_numpy(), model.predict(prices, DAY).to_numpy())


def test_too_little_history_is_refused() -> None:
    prices = noisy_walk(30)  # 23 days have every lag, the default needs 28

    with pytest.raises(InsufficientHistoryError, match="28 complete days"):
        MlpModel(**FAST).fit(prices)
    model = fitted(noisy_walk(140))
    with pytest.raises(InsufficientHistoryError, match="7 days before"):
        model.predict(noisy_walk(140)[:1], DAY)


def test_unfitted_models_and_unknown_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="fit the model"):
        MlpModel().predict(noisy_walk(140), DAY)
    with pytest.raises(RuntimeError, match="fit the model"):
        MlpModel().save(tmp_path)
    with pytest.raises(ValueError, match="unknown target"):
        MlpModel(target="ranks")
    with pytest.raises(ValueError, match="unknown solver"):
        MlpModel(solver="sgd")
    with pytest.raises(ValueError, match="seed"):
        MlpModel(seeds=())


def test_exogenous_inputs_are_saved_with_the_model_and_required(tmp_path: Path) -> None:
    prices = noisy_walk(140)
    load = pd.DataFrame({"load": prices.to_numpy() * 2 + 5}, index=prices.index)
    model = MlpModel(**FAST)
    model.fit(before_day(prices, DAY), load[load.index < pd.Timestamp(DAY, tz="UTC")])
    model.save(tmp_path)

    loaded = load_model("mlp", tmp_path)

    assert isinstance(loaded, MlpModel) and loaded.exogenous_columns == ["load"]
    assert np.array_equal(loaded.predict(prices, DAY, load).to_numpy(), model.predict(prices, DAY, load).to_numpy())
    with pytest.raises(ValueError, match=r"exogenous inputs \['load'\] were used to fit the model"):
        loaded.predict(prices, DAY)
    without_today = load[load.index < pd.Timestamp(DAY, tz="UTC")]
    with pytest.raises(InsufficientHistoryError, match="exogenous inputs the MLP needs"):
        loaded.predict(prices, DAY, without_today)


@pytest.mark.parametrize("target", ["prices", "day-shape"])
def test_both_targets_learn_a_weekly_shape(target: str) -> None:
    prices = weekly_pattern(140)
    day = date(2024, 5, 13)  # a Monday after a Sunday of another shape
    model = MlpModel(window_days=120, target=target)
    model.fit(before_day(prices, day))

    forecast = model.predict(prices, day).to_numpy()
    actual = prices.loc["2024-05-13"].to_numpy()

    yesterday = prices.loc["2024-05-12"].to_numpy()
    naive_shape_error = np.abs(day_shape(yesterday) - day_shape(actual)).mean()
    assert np.abs(day_shape(forecast) - day_shape(actual)).mean() < naive_shape_error / 4


def test_the_registry_knows_the_mlp() -> None:
    assert MEMBER_TYPES["mlp"] is MlpModel
    model = create_model("mlp", **FAST)
    assert isinstance(model, MlpModel) and model.name == "mlp" and model.seeds == (1, 2)
