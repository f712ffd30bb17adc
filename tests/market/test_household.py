"""The synthetic household and its bill with no battery, a rule-based one, and the optimizer run three ways; the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridpilot.cli import full_app
from gridpilot.market.household import evaluate_household, synthetic_household

INDEX = pd.date_range("2026-06-01", periods=24 * 14, freq="h", tz="UTC")


def test_the_profile_is_deterministic_and_scaled_to_the_annual_load() -> None:
    first, second = synthetic_household(INDEX), synthetic_household(INDEX)

    pd.testing.assert_frame_equal(first, second)
    assert first["load_kw"].sum() == pytest.approx(3500 * 14 * 24 / 8760)
    night = first["pv_kw"][first.index.hour.isin([0, 1, 2, 23])]
    assert (night == 0).all() and first["pv_kw"].max() <= 5


def test_the_optimizer_beats_no_battery_and_the_rule() -> None:
    hours = INDEX.hour.to_numpy()
    prices = pd.Series(50 + 30 * np.cos((hours - 19) / 24 * 2 * np.pi), index=INDEX)

    result = evaluate_household(prices, synthetic_household(INDEX))

    assert result.days == 14
    assert result.optimized < result.rule_based < result.without_battery
    assert result.reduction(result.optimized, result.without_battery) > 0.10


def test_the_receding_horizon_beats_the_rule_once_it_has_days_to_forecast_from() -> None:
    hours = INDEX.hour.to_numpy()
    prices = pd.Series(50 + 30 * np.cos((hours - 19) / 24 * 2 * np.pi), index=INDEX)

    result = evaluate_household(prices, synthetic_household(INDEX), last_days=7)

    assert result.days == 7
    assert result.optimized < result.receding_horizon < result.rule_based


def test_a_day_with_no_earlier_day_to_forecast_from_runs_on_the_rule() -> None:
    first_day = INDEX[:24]
    prices = pd.Series(np.linspace(20, 90, 24), index=first_day)

    result = evaluate_household(prices, synthetic_household(first_day))

    assert result.days == 1
    assert result.receding_horizon == result.rule_based


def write_prices(path: Path, index: pd.DatetimeIndex) -> Path:
    hours = index.hour.to_numpy()
    prices = pd.Series(50 + 30 * np.cos((hours - 19) / 24 * 2 * np.pi), index=index.tz_localize(None))
    prices.rename("Real price").to_csv(path, index_label="")
    return path


def evaluate(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(full_app(), ["evaluate", "household", *arguments], terminal_width=200)
    return result.exit_code, result.output


def test_the_cli_bills_the_synthetic_household_by_default(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "prices.csv", INDEX)

    code, output = evaluate(str(prices), "--days", "7")

    assert code == 0, output
    assert "synthetic household" in output and "7 days" in output
    expected = evaluate_household(
        pd.read_csv(prices, index_col=0, parse_dates=True)["Real price"].tz_localize("UTC"),
        synthetic_household(INDEX),
        last_days=7,
    )
    row = next(line for line in output.splitlines() if "re-planned on a forecast" in line)
    assert f"{expected.receding_horizon:,.2f}" in row


def test_the_cli_bills_a_profile_from_a_file(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "prices.csv", INDEX)
    profile = tmp_path / "home.csv"
    home = synthetic_household(INDEX, annual_load_kwh=7000.0, pv_peak_kw=0.0)
    home.tz_localize(None).to_csv(profile, index_label="")

    code, output = evaluate(str(prices), "--profile", str(profile), "--capacity-kwh", "20", "--power-kw", "8")

    assert code == 0, output
    assert "home.csv" in output and "14 days" in output and "20 kWh / 8 kW" in output
    no_battery = next(line for line in output.splitlines() if "│ no battery" in line)
    hours = INDEX.hour.to_numpy()
    price = 50 + 30 * np.cos((hours - 19) / 24 * 2 * np.pi)
    assert f"{float(home['load_kw'].to_numpy() @ (price + 150)) / 1000:,.2f}" in no_battery


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (pd.DataFrame({"load_kw": [1.0, -2.0], "pv_kw": [0.0, 0.0]}), "load_kw must not be negative: -2"),
        (pd.DataFrame({"load_kw": [1.0, 2.0]}), "pv_kw"),
        (pd.DataFrame({"load_kw": ["a", "b"], "pv_kw": [0.0, 0.0]}), "--profile"),
    ],
)
def test_the_cli_names_what_is_wrong_with_a_profile(tmp_path: Path, profile: pd.DataFrame, message: str) -> None:
    prices = write_prices(tmp_path / "prices.csv", INDEX)
    path = tmp_path / "home.csv"
    profile.set_axis(INDEX[:2].tz_localize(None)).to_csv(path, index_label="")

    code, output = evaluate(str(prices), "--profile", str(path))

    assert code == 2
    assert message in output
    assert "Traceback" not in output


def test_the_cli_says_when_the_profile_covers_no_whole_day(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "prices.csv", INDEX)
    path = tmp_path / "home.csv"
    synthetic_household(INDEX[:20]).tz_localize(None).to_csv(path, index_label="")

    code, output = evaluate(str(prices), "--profile", str(path))

    assert code == 1
    assert "no complete day" in output


def test_the_cli_refuses_a_battery_without_capacity(tmp_path: Path) -> None:
    code, output = evaluate(str(write_prices(tmp_path / "prices.csv", INDEX)), "--capacity-kwh", "0")

    assert code == 2
    assert "--capacity-kwh" in output and "capacity_kwh must be" in output


def test_the_cli_says_when_the_optimizer_cannot_take_the_tariff(tmp_path: Path) -> None:
    code, output = evaluate(str(write_prices(tmp_path / "prices.csv", INDEX)), "--network-fee", "1e7")

    assert code == 1
    assert "evaluation failed" in output and "prices_per_mwh must be within" in output
    assert "Traceback" not in output
