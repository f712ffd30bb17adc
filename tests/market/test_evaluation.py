"""Dispatch on forecasts settled on actual prices: the published EPF figures, and the evaluate CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from gridpilot.cli import full_app
from gridpilot.market.evaluation import (
    evaluate_arbitrage,
    evaluate_on_shared_days,
    same_hour_yesterday,
    step_minutes,
)
from gridpilot.market.forecasting.shape import PLAN_ON_FORECAST, PlanningRule

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


def test_a_single_period_is_no_complete_day() -> None:
    actual = hourly(1).iloc[:1]

    result = evaluate_arbitrage(actual, actual)

    assert result.days.empty and result.skipped_days == 1


def test_forecasts_compared_are_evaluated_on_the_same_days() -> None:
    """Same hour yesterday has no first day: the forecast must not be settled on it either."""
    actual = hourly(4)
    naive = same_hour_yesterday(actual)

    results = evaluate_on_shared_days(
        actual, {"perfect": (actual, PLAN_ON_FORECAST), "naive": (naive, PLAN_ON_FORECAST)}
    )

    assert [list(result.days.index.day) for result in results.values()] == [[2, 3, 4], [2, 3, 4]]
    assert [result.skipped_days for result in results.values()] == [1, 1]
    assert results["perfect"].perfect_revenue == results["naive"].perfect_revenue
    assert results["perfect"].revenue == pytest.approx(results["perfect"].perfect_revenue)


def invoke(*args: str) -> Result:
    """`gridpilot evaluate dispatch ARGS`, wide enough that messages are not wrapped."""
    return CliRunner().invoke(full_app(), ["evaluate", "dispatch", *args], env={"COLUMNS": "400"})


def write_prices(path: Path, frame: pd.DataFrame) -> Path:
    frame.tz_localize(None).to_csv(path, index_label="")
    return path


@pytest.mark.parametrize(("column", "written"), [("Real price", "inf"), ("Real price", "-inf"), ("forecast", "inf")])
def test_the_cli_refuses_an_infinite_price_or_forecast(tmp_path: Path, column: str, written: str) -> None:
    actual = hourly(3)
    frame = pd.DataFrame({"Real price": actual, "forecast": actual})
    frame.loc[frame.index[30], column] = float(written)
    prices = write_prices(tmp_path / "prices.csv", frame)

    result = invoke(str(prices))

    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"prices.csv: '{column}' at 2026-03-02 06:00:00 is {written}" in result.output


def test_the_cli_says_a_single_row_has_no_complete_day(tmp_path: Path) -> None:
    actual = hourly(1).iloc[:1]
    prices = write_prices(tmp_path / "prices.csv", pd.DataFrame({"Real price": actual, "forecast": actual}))

    result = invoke(str(prices))

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "no complete day with both an actual price and a forecast" in result.output


@pytest.mark.parametrize("scale", ["inf", "-inf", "nan"])
def test_the_cli_wants_a_finite_shape_scale(tmp_path: Path, scale: str) -> None:
    actual = hourly(3)
    prices = write_prices(tmp_path / "prices.csv", pd.DataFrame({"Real price": actual, "forecast": actual}))

    result = invoke(str(prices), "--shape-scale", scale)

    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "--shape-scale" in result.output and f"must be a finite number, not {scale}" in result.output


def test_the_cli_reads_offsets_that_change_at_daylight_saving_time(tmp_path: Path) -> None:
    actual = hourly(6, start="2026-03-26")
    local = actual.index.tz_convert("Europe/Oslo")  # +01:00, then +02:00 from 29 March
    prices = tmp_path / "prices.csv"
    pd.DataFrame({"Real price": actual.to_numpy(), "forecast": actual.to_numpy()}, index=local.map(str)).to_csv(
        prices, index_label="ts"
    )
    assert "+01:00" in prices.read_text() and "+02:00" in prices.read_text()

    result = invoke(str(prices))

    assert result.exit_code == 0, result.output
    assert "5 days (2026-03-27 .. 2026-03-31)" in result.output  # in UTC, the days the file covers


def test_the_cli_evaluates_the_market_s_local_days_with_a_timezone(tmp_path: Path) -> None:
    actual = hourly(6, start="2026-03-25 23:00")  # Oslo's 26 March to 1 April 00:00, across the spring DST change
    local = actual.index.tz_convert("Europe/Oslo")
    prices = tmp_path / "prices.csv"
    pd.DataFrame({"Real price": actual.to_numpy(), "forecast": actual.to_numpy()}, index=local.map(str)).to_csv(
        prices, index_label="ts"
    )

    in_utc = invoke(str(prices))
    in_oslo = invoke(str(prices), "--timezone", "Europe/Oslo")
    unknown = invoke(str(prices), "--timezone", "Mars/Olympus")

    assert in_utc.exit_code == 0 and in_oslo.exit_code == 0, in_utc.output + in_oslo.output
    assert "4 days (2026-03-27 .. 2026-03-30)" in in_utc.output  # 31 March lacks its last UTC hour
    assert "5 days (2026-03-27 .. 2026-03-31)" in in_oslo.output  # 29 March is a day of 23 hours
    assert unknown.exit_code == 2 and "--timezone" in unknown.output and "unknown time zone" in unknown.output


def test_a_day_of_23_or_25_hours_in_the_market_s_zone_is_complete() -> None:
    index = pd.date_range("2026-10-24", "2026-10-27", freq="h", tz="Europe/Berlin", inclusive="left")
    prices = pd.Series(np.tile([20.0, 80.0], index.size // 2 + 1)[: index.size], index=index)

    result = evaluate_arbitrage(prices, prices)

    assert [str(day.date()) for day in result.days.index] == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert result.skipped_days == 0 and result.captured_share == pytest.approx(1.0)
    assert result.perfect_revenue > 0


def test_the_cli_shares_are_of_the_perfect_foresight_shown(tmp_path: Path) -> None:
    """A perfect forecast captures all of the perfect-foresight figure shown, also next to same hour yesterday."""
    index = pd.date_range("2026-03-01", periods=96 * 4, freq="15min", tz="UTC")
    actual = pd.Series(40 + 15 * np.sin(np.arange(index.size) / 96 * 2 * np.pi), index=index)
    actual = actual * (1 + (index.day.to_numpy() == 1))  # the first day's spread is larger
    prices = write_prices(tmp_path / "prices.csv", pd.DataFrame({"Real price": actual, "forecast": actual}))

    result = invoke(str(prices))

    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2:4] for line in result.output.splitlines() if "│" in line}
    perfect = rows["perfect foresight"][0].strip()
    assert rows["forecast (forecast)"][0].strip() == perfect and "100.0 %" in rows["forecast (forecast)"][1]
    assert rows["same hour yesterday"][0].strip() == perfect  # every day equals the one before, but the first
    assert "3 days (2026-03-02 .. 2026-03-04)" in result.output
    assert "1 incomplete day(s) left out" in result.output


def test_the_cli_shows_no_share_when_perfect_foresight_earns_nothing(tmp_path: Path) -> None:
    actual = pd.Series(10.0, index=hourly(3).index)
    prices = write_prices(tmp_path / "prices.csv", pd.DataFrame({"Real price": actual, "forecast": actual}))

    result = invoke(str(prices))

    assert result.exit_code == 0, result.output
    assert "nan" not in result.output
    assert all(line.rstrip().rstrip("│").strip().endswith("-") for line in result.output.splitlines() if "│ " in line)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "Invalid value for PRICES_CSV: {path} is empty"),
        ("ts;Real price\n2026-03-01 00:00;1\n", "{path} has no column besides the delivery start"),
        ("ts,Real price\n01/03/2026 00:00,1\n", "'01/03/2026 00:00' (data row 1) is not an ISO 8601 timestamp"),
    ],
)
def test_the_cli_names_what_is_wrong_with_the_file(tmp_path: Path, content: str, message: str) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text(content)

    result = invoke(str(prices))

    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert message.format(path=prices) in result.output
    assert "No columns to parse" not in result.output and "format='mixed'" not in result.output


def test_the_cli_refuses_prices_the_optimizer_cannot_take(tmp_path: Path) -> None:
    actual = hourly(3)
    frame = pd.DataFrame({"Real price": actual, "forecast": actual})
    prices = write_prices(tmp_path / "prices.csv", frame)
    frame.loc[frame.index[30], "forecast"] = 1e12
    too_large = write_prices(tmp_path / "too_large.csv", frame)

    refused = invoke(str(too_large))
    overstretched = invoke(str(prices), "--shape-scale", "1e12")

    assert refused.exit_code == 2 and isinstance(refused.exception, SystemExit), refused.output
    assert "'forecast' at 2026-03-02 06:00:00+00:00 is 1e+12, beyond ±1e+06 per MWh" in refused.output
    assert overstretched.exit_code == 1 and isinstance(overstretched.exception, SystemExit), overstretched.output
    assert "evaluation failed" in overstretched.output
