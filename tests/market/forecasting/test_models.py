"""Every model behind the one interface: known answers, no look-ahead, DST days, 15 minutes, save and load."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.forecasting import MODEL_NAMES, PriceModel, create_model, load_model
from gridpilot.market.forecasting.daily import before_day
from tests.market.forecasting.synthetic import noisy_walk, weekly_pattern

FAST_OPTIONS: dict[str, dict[str, Any]] = {
    "lear": {"windows": (42, 84)},
    "lgbm": {"rounds": 60, "window_days": 120},
    "lgbm-shape": {"rounds": 60, "window_days": 120},
    "ensemble": {
        "members": ("naive-weekly", "lear", "lgbm"),
        "member_options": {"lear": {"windows": (56,)}, "lgbm": {"rounds": 60, "window_days": 120}},
    },
    "ensemble-shape": {
        "member_options": {"lear": {"windows": (56,)}, "lgbm-shape": {"rounds": 60, "window_days": 120}}
    },
    "mlp": {"seeds": (1, 2), "max_iter": 100, "window_days": 120},
    "ensemble-mlp": {
        "member_options": {
            "lear": {"windows": (56,)},
            "lgbm-shape": {"rounds": 60, "window_days": 120},
            "mlp": {"seeds": (1, 2), "max_iter": 100, "window_days": 120},
        }
    },
}
CALIBRATED = ["lear", "lgbm", "lgbm-shape", "ensemble", "ensemble-shape", "mlp", "ensemble-mlp"]


def fitted(name: str, prices: pd.Series, day: date) -> PriceModel:
    model = create_model(name, **FAST_OPTIONS.get(name, {}))
    model.fit(before_day(prices, day))
    return model


def test_every_model_is_a_price_model() -> None:
    assert set(MODEL_NAMES) == {
        "naive-daily",
        "naive-weekly",
        "lear",
        "lgbm",
        "lgbm-shape",
        "ensemble",
        "ensemble-shape",
        "mlp",
        "ensemble-mlp",
    }
    for name in MODEL_NAMES:
        model = create_model(name, **FAST_OPTIONS.get(name, {}))
        assert isinstance(model, PriceModel) and model.name == name
    with pytest.raises(ValueError, match="unknown model"):
        create_model("prophet")


@pytest.mark.parametrize(("name", "tolerance"), [("naive-weekly", 1e-12), ("lear", 0.2), ("lgbm", 0.5)])
def test_an_exact_weekly_pattern_is_predicted(name: str, tolerance: float) -> None:
    """Prices near 40: LASSO shrinkage and (default) trees leave a small error, Sunday's prices a large one."""
    prices = weekly_pattern(140)
    day = date(2024, 5, 13)  # a Monday
    model = create_model(name, **FAST_OPTIONS["lear"]) if name == "lear" else create_model(name)
    model.fit(before_day(prices, day))
    forecast = model.predict(prices, day)
    actual = prices.loc["2024-05-13"]
    assert forecast.index.equals(actual.index)
    assert np.abs(forecast.to_numpy() - actual.to_numpy()).mean() < tolerance
    assert np.abs(prices.loc["2024-05-12"].to_numpy() - actual.to_numpy()).mean() > 5 * tolerance


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_days_own_prices_never_reach_its_forecast(name: str) -> None:
    prices = noisy_walk(140)
    day = date(2024, 5, 15)
    model = fitted(name, prices, day)
    honest = model.predict(prices, day)
    leaked = prices.copy()
    leaked[leaked.index >= pd.Timestamp(day, tz="UTC")] = 10_000.0
    assert np.array_equal(model.predict(leaked, day).to_numpy(), honest.to_numpy())
    assert np.array_equal(model.predict(before_day(prices, day), day).to_numpy(), honest.to_numpy())


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_and_load_forecast_identically(name: str, tmp_path: Path) -> None:
    prices = noisy_walk(140)
    day = date(2024, 5, 15)
    model = fitted(name, prices, day)
    model.save(tmp_path / name)
    loaded = load_model(name, tmp_path / name)
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict(prices, day).to_numpy(), model.predict(prices, day).to_numpy())
    other = "naive-daily" if name != "naive-daily" else "lear"
    with pytest.raises(ValueError, match="holds a"):
        load_model(other, tmp_path / name)


QUARTER_HOUR_OPTIONS: dict[str, dict[str, Any]] = {
    "lear": {"windows": (28,)},
    "lgbm": {"rounds": 60},
    "lgbm-shape": {"rounds": 60},
    "ensemble": {"member_options": {"lear": {"windows": (28,)}, "lgbm": {"rounds": 60}}},
    "ensemble-shape": {"member_options": {"lear": {"windows": (28,)}, "lgbm-shape": {"rounds": 60}}},
    "mlp": {"seeds": (1,), "max_iter": 100},
    "ensemble-mlp": {
        "member_options": {
            "lear": {"windows": (28,)},
            "lgbm-shape": {"rounds": 60},
            "mlp": {"seeds": (1,), "max_iter": 100},
        }
    },
}


@pytest.mark.parametrize("name", CALIBRATED)
def test_quarter_hour_prices(name: str) -> None:
    """96 LASSOs of 391 inputs each: one short window keeps the test quick."""
    prices = noisy_walk(50, minutes=15)
    day = date(2024, 2, 15)
    model = create_model(name, **QUARTER_HOUR_OPTIONS[name])
    model.fit(before_day(prices, day))
    forecast = model.predict(prices, day)
    actual = prices.loc["2024-02-15"]
    assert forecast.index.equals(actual.index)
    naive_error = np.abs(prices.loc["2024-02-14"].to_numpy() - actual.to_numpy()).mean()
    assert np.abs(forecast.to_numpy() - actual.to_numpy()).mean() < 2 * naive_error


@pytest.mark.parametrize("name", CALIBRATED)
def test_a_short_and_a_long_day_in_market_time(name: str) -> None:
    prices = noisy_walk(320, tz="Europe/Berlin")
    for day, hours in ((date(2024, 3, 31), 23), (date(2024, 10, 27), 25)):
        forecast = fitted(name, prices, day).predict(prices, day)
        assert forecast.index.equals(prices.loc[str(day)].index) and len(forecast) == hours
        assert forecast.notna().all()


@pytest.mark.parametrize("name", ["lear", "lgbm", "lgbm-shape", "mlp", "ensemble-mlp"])
def test_exogenous_inputs_are_used_and_required(name: str) -> None:
    prices = noisy_walk(140)
    load = pd.DataFrame({"load": prices.to_numpy() * 2 + 5}, index=prices.index)  # a perfect day-ahead signal
    day = date(2024, 5, 15)
    model = create_model(name, **FAST_OPTIONS[name])
    model.fit(before_day(prices, day), load[load.index < pd.Timestamp(day, tz="UTC")])
    forecast = model.predict(prices, day, load)
    without = fitted(name, prices, day).predict(prices, day)
    actual = prices.loc[str(day)].to_numpy()
    assert np.abs(forecast.to_numpy() - actual).mean() < np.abs(without.to_numpy() - actual).mean()
    with pytest.raises(ValueError, match="exogenous"):
        model.predict(prices, day)
