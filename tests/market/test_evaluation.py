"""Dispatch on forecasts settled on actual prices: the published EPF figures, and the evaluate CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridpilot.cli import full_app
from gridpilot.market.evaluation import evaluate_arbitrage, same_hour_yesterday, step_minutes

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


def test_the_cli_names_a_missing_column(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    hourly(2).rename("Real price").to_csv(prices, index_label="")

    result = CliRunner().invoke(full_app(), ["evaluate", "dispatch", str(prices), "--forecast-column", "nope"])

    assert result.exit_code != 0
    assert "nope" in result.output
