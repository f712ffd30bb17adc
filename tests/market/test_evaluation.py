"""Dispatch on forecasts settled on actual prices: the published EPF figures, and the evaluate CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridpilot.cli import full_app
from gridpilot.market.evaluation import evaluate_arbitrage, same_hour_yesterday, step_minutes
from gridpilot.market.forecasting.shape import PlanningRule

EPF = Path(__file__).resolve().parents[3] / "shared" / "data" / "epf"
needs_epf = pytest.mark.skipif(not (EPF / "NP.csv").exists(), reason="the EPF benchmark files are not on this machine")


def hourly(days: int, seed: int = 0, start: str = "2026-03-01") -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=24 * days, freq="h", tz="UTC")
    shape = 40 + 15 * np.sin((index.hour.to_numpy() - 7) / 24 * 2 * np.pi)
    return pd.Series(shape + rng.normal(0, 5, index.size), index=index)


def test_a_perfect_forecast_captures_everything() -> None:
    actual = hourly(5)

    result = evaluate_arbitrage(actual, actual)

    assert len(result.days) == 5
    assert result.captured_share == pytest.approx(1.0)
    assert result.perfect_revenue > 0


def test_a_flat_forecast_leaves_the_battery_idle() -> None:
    actual = hourly(3)

    result = evaluate_arbitrage(actual, pd.Series(40.0, index=actual.index))

    assert result.revenue == pytest.approx(0.0, abs=1e-9)
    assert result.captured_share == pytest.approx(0.0, abs=1e-12)


def test_incomplete_days_are_left_out_and_counted() -> None:
    actual = hourly(4)
    forecast = actual.copy()
    forecast.iloc[30] = np.nan

    result = evaluate_arbitrage(actual.drop(actual.index[60]), forecast)

    assert len(result.days) == 2 and result.skipped_days == 2


def test_the_last_days_option_keeps_the_most_recent() -> None:
    actual = hourly(6)

    result = evaluate_arbitrage(actual, actual, last_days=2)

    assert list(result.days.index.day) == [5, 6]


def test_same_hour_yesterday_and_quarter_hour_resolution() -> None:
    index = pd.date_range("2026-03-01", periods=96 * 3, freq="15min", tz="UTC")
    actual = pd.Series(np.arange(index.size, dtype=float) % 96, index=index)

    naive = same_hour_yesterday(actual)

    assert step_minutes(index) == 15
    assert naive.iloc[:96].isna().all()
    assert naive.iloc[96 + 5] == actual.iloc[5]
    assert evaluate_arbitrage(actual, naive).captured_share == pytest.approx(1.0)  # every day is the same


def shrunk_by_day(actual: pd.Series, factor: float) -> pd.Series:
    day_mean = actual.groupby(actual.index.normalize()).transform("mean")
    return day_mean + factor * (actual - day_mean)


def test_a_forecast_too_flat_to_pay_the_losses_trades_once_stretched() -> None:
    """The right hours but a twentieth of the spread: idle as forecast, perfect once stretched back."""
    actual = hourly(4)
    flat = shrunk_by_day(actual, 0.05)

    assert evaluate_arbitrage(actual, flat).revenue == pytest.approx(0.0, abs=1e-9)
    assert evaluate_arbitrage(actual, flat, rule=PlanningRule(shape_scale=20.0)).captured_share == pytest.approx(1.0)


def test_a_persistent_shape_error_is_corrected_from_the_days_before() -> None:
    """The same wrong hourly profile every day: learnt on day 1, planned away from day 2 on."""
    actual = hourly(5)
    profile = 25 * np.cos(actual.index.hour.to_numpy() / 24 * 2 * np.pi)
    biased = actual - (profile - profile[:24].mean())

    as_forecast = evaluate_arbitrage(actual, biased, last_days=4)
    corrected = evaluate_arbitrage(actual, biased, last_days=4, rule=PlanningRule(correction_days=3))

    assert as_forecast.captured_share < 0.9
    assert corrected.captured_share == pytest.approx(1.0)
    assert list(corrected.days.index.day) == [2, 3, 4, 5]


@needs_epf
@pytest.mark.parametrize(("market", "published"), [("NP", 82.0), ("BE", 81.5)])
def test_reproduces_the_published_dnn_ensemble_capture(market: str, published: float) -> None:
    frame = pd.read_csv(EPF / f"{market}.csv", index_col=0)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index)).tz_localize("UTC")

    result = evaluate_arbitrage(frame["Real price"], frame["DNN Ensemble"], last_days=364)

    assert result.captured_share * 100 == pytest.approx(published, abs=0.5)


@needs_epf
def test_the_cli_evaluates_a_column_of_the_epf_file(tmp_path: Path) -> None:
    sliced = tmp_path / "np.csv"
    pd.read_csv(EPF / "NP.csv", index_col=0).iloc[: 24 * 8].to_csv(sliced)

    result = CliRunner().invoke(
        full_app(), ["evaluate", "dispatch", str(sliced), "--forecast-column", "DNN Ensemble", "--days", "5"]
    )

    assert result.exit_code == 0, result.output
    assert "forecast (DNN Ensemble)" in result.output
    assert "same hour yesterday" in result.output and "5 days" in result.output


def test_the_cli_reads_a_backtest_file(tmp_path: Path) -> None:
    actual = hourly(4)
    prices = tmp_path / "prices.csv"
    actual.rename("Real price").tz_localize(None).to_csv(prices, index_label="")
    forecasts = tmp_path / "forecasts.csv"
    pd.DataFrame(
        {"timestamp": actual.index.tz_localize(None)[24:], "actual": actual.iloc[24:], "forecast": actual.iloc[24:]}
    ).to_csv(forecasts, index=False)

    result = CliRunner().invoke(full_app(), ["evaluate", "dispatch", str(prices), "--forecasts", str(forecasts)])

    assert result.exit_code == 0, result.output
    assert "100.0 %" in result.output and "3 days" in result.output


def test_the_cli_stretches_the_forecast_only(tmp_path: Path) -> None:
    actual = hourly(4)
    prices = tmp_path / "prices.csv"
    frame = pd.DataFrame({"Real price": actual, "flat": shrunk_by_day(actual, 0.05)}).tz_localize(None)
    frame.to_csv(prices, index_label="")

    result = CliRunner().invoke(
        full_app(), ["evaluate", "dispatch", str(prices), "--forecast-column", "flat", "--shape-scale", "20"]
    )

    assert result.exit_code == 0, result.output
    stretched_row = next(line for line in result.output.splitlines() if "forecast (flat), shape × 20" in line)
    assert "100.0 %" in stretched_row


def test_the_cli_names_a_missing_column(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    hourly(2).rename("Real price").to_csv(prices, index_label="")

    result = CliRunner().invoke(full_app(), ["evaluate", "dispatch", str(prices), "--forecast-column", "nope"])

    assert result.exit_code != 0
    assert "nope" in result.output
