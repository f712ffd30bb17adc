"""`gridpilot forecast backtest` on the last 60 days of the Nord Pool benchmark file (epftoolbox, Apache-2.0)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridpilot.cli import app

PRICES = Path(__file__).parent.parent / "market" / "fixtures" / "epf_np_last_60_days.csv"


def printed_metrics(output: str) -> list[float]:
    """The five figures of the summary table row."""
    row = next(line for line in output.splitlines() if re.search(r"\d+\.\d{4}.*\d+\.\d{4}", line))
    return [float(number) for number in re.findall(r"-?\d+\.\d+", row)]


def test_naive_backtest_prints_the_errors_computed_here(tmp_path: Path) -> None:
    out = tmp_path / "forecasts.csv"
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            "backtest",
            str(PRICES),
            "--model",
            "naive-daily",
            "--test-days",
            "10",
            "--out",
            str(out),
            "--report",
            str(report),
            "--jobs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert list(written.columns) == ["timestamp", "actual", "forecast"] and len(written) == 240
    assert written["timestamp"].iloc[0] == "2018-12-15 00:00:00"

    prices = pd.read_csv(PRICES, index_col=0)["Real price"].to_numpy()
    actual, forecast, naive = prices[-240:], prices[-264:-24], prices[-408:-168]
    assert np.allclose(written["actual"], actual) and np.allclose(written["forecast"], forecast)
    mae = np.abs(actual - forecast).mean()
    expected = [
        mae,
        mae / np.abs(actual - naive).mean(),
        100 * np.mean(2 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))),
        np.sqrt(np.mean((actual - forecast) ** 2)),
        100 * mae / actual.mean(),
    ]
    assert printed_metrics(result.output) == pytest.approx(expected, abs=0.006)
    assert report.read_text().count("<svg") == 2


def test_lightgbm_backtest_on_two_workers(tmp_path: Path) -> None:
    out = tmp_path / "forecasts.csv"
    result = CliRunner().invoke(
        app, ["forecast", "backtest", str(PRICES), "--model", "lgbm", "--test-days", "10", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert len(written) == 240 and written["forecast"].notna().all()
    assert printed_metrics(result.output)[0] == pytest.approx(
        np.abs(written["actual"] - written["forecast"]).mean(), abs=1e-4
    )


def test_unknown_model_and_column_are_usage_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "f.csv")
    runner = CliRunner()
    wrong_model = runner.invoke(app, ["forecast", "backtest", str(PRICES), "--model", "prophet", "--out", out])
    assert wrong_model.exit_code == 2 and "unknown model" in wrong_model.output
    wrong_column = runner.invoke(app, ["forecast", "backtest", str(PRICES), "--price-column", "Price", "--out", out])
    assert wrong_column.exit_code == 2 and "'Price'" in wrong_column.output
    too_long = runner.invoke(app, ["forecast", "backtest", str(PRICES), "--test-days", "364", "--out", out])
    assert too_long.exit_code == 1 and "cannot test 364 days" in too_long.output


def with_load_forecast(tmp_path: Path) -> Path:
    """The fixture with a 'Load forecast' column that foretells each hour's price exactly (2 × price + 5)."""
    frame = pd.read_csv(PRICES, index_col=0)
    frame["Load forecast"] = frame["Real price"] * 2 + 5
    path = tmp_path / "prices_and_load.csv"
    frame.to_csv(path)
    return path


def test_exogenous_columns_reach_the_model(tmp_path: Path) -> None:
    source = with_load_forecast(tmp_path)
    runner = CliRunner()
    arguments = ["forecast", "backtest", str(source), "--model", "lear", "--test-days", "5", "--jobs", "1"]

    without = runner.invoke(app, [*arguments, "--out", str(tmp_path / "without.csv")])
    with_load = runner.invoke(
        app, [*arguments, "--exogenous-column", "Load forecast", "--out", str(tmp_path / "with.csv")]
    )

    assert without.exit_code == 0, without.output
    assert with_load.exit_code == 0, with_load.output
    assert printed_metrics(with_load.output)[0] < printed_metrics(without.output)[0] / 2


def test_exogenous_columns_that_are_missing_unreadable_or_the_price_are_usage_errors(tmp_path: Path) -> None:
    source = with_load_forecast(tmp_path)
    runner = CliRunner()
    arguments = ["forecast", "backtest", str(source), "--out", str(tmp_path / "f.csv"), "--exogenous-column"]

    missing = runner.invoke(app, [*arguments, "Wind forecast"])
    assert missing.exit_code == 2 and "--exogenous-column" in missing.output
    assert "no column 'Wind forecast'" in said(missing.output)
    the_price = runner.invoke(app, [*arguments, "Real price"])
    assert the_price.exit_code == 2 and "'Real price' is the price to forecast" in said(the_price.output)
    lines = source.read_text().splitlines()
    row = next(number for number, line in enumerate(lines) if line.startswith("2018-11-01 05:00:00"))
    lines[row] = lines[row].rsplit(",", 1)[0] + ",high"
    source.write_text("\n".join(lines) + "\n")
    unreadable = runner.invoke(app, [*arguments, "Load forecast"])
    assert unreadable.exit_code == 2
    assert "'Load forecast' at 2018-11-01 05:00:00 is 'high', not a number" in said(unreadable.output)
    assert not (tmp_path / "f.csv").exists()


def said(output: str) -> str:
    """An error panel's text on one line: without its borders and line breaks."""
    return " ".join(output.replace("│", " ").split())
