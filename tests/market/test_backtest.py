"""The rolling backtest: one forecast per day from earlier prices only, the same on one core or several."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridpilot.market.backtest import MissingColumnError, last_days, read_price_csv, run_backtest, write_forecasts
from gridpilot.market.report import render_report
from tests.market.forecasting.synthetic import noisy_walk


def test_forecasts_every_period_of_the_last_days_with_the_naive_answer() -> None:
    prices = noisy_walk(40)
    result = run_backtest(prices, model_name="naive-daily", test_days=10)
    frame = result.forecasts
    assert list(frame.columns) == ["timestamp", "actual", "forecast"] and len(frame) == 240
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-31", tz="UTC")
    assert np.array_equal(frame["forecast"].to_numpy(), prices.shift(24).iloc[-240:].to_numpy())
    assert np.array_equal(result.naive.to_numpy(), prices.shift(168).iloc[-240:].to_numpy())
    errors = np.abs(frame["forecast"] - frame["actual"])
    assert result.summary.mae == pytest.approx(errors.mean())
    assert result.summary.rmae == pytest.approx(
        errors.mean() / np.abs(result.naive.to_numpy() - frame["actual"]).mean()
    )


def test_changing_a_day_changes_only_its_actual_never_a_forecast() -> None:
    prices = noisy_walk(80)
    options = {"windows": (42,)}
    changed = prices.copy()
    changed.loc["2024-03-20"] += 50.0  # the last test day
    first = run_backtest(prices, model_name="lear", test_days=2, options=options)
    second = run_backtest(changed, model_name="lear", test_days=2, options=options)
    assert np.array_equal(first.forecasts["forecast"].to_numpy(), second.forecasts["forecast"].to_numpy())
    assert not np.array_equal(first.forecasts["actual"].to_numpy(), second.forecasts["actual"].to_numpy())


def test_worker_processes_give_the_same_forecasts() -> None:
    prices = noisy_walk(50)
    alone = run_backtest(prices, model_name="lgbm", test_days=6, options={"rounds": 20})
    done: list[int] = []
    pooled = run_backtest(
        prices, model_name="lgbm", test_days=6, options={"rounds": 20}, jobs=2, chunk_days=3, on_days_done=done.append
    )
    assert sum(done) == 6
    pd.testing.assert_frame_equal(alone.forecasts, pooled.forecasts)


def test_too_many_test_days_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot test"):
        last_days(noisy_walk(10), 10)


def test_csv_round_trip_and_report(tmp_path: Path) -> None:
    prices = noisy_walk(20)
    source = tmp_path / "prices.csv"
    pd.DataFrame({"Real price": prices.to_numpy()}, index=prices.index.tz_localize(None)).to_csv(source)
    price_file = read_price_csv(source)
    assert price_file.naive_timestamps
    pd.testing.assert_series_equal(price_file.prices, prices, check_names=False, check_freq=False)
    result = run_backtest(price_file.prices, model_name="naive-weekly", test_days=3)
    out = tmp_path / "forecasts.csv"
    write_forecasts(result, out, price_file.naive_timestamps)
    assert out.read_text().splitlines()[1].startswith("2024-01-18 00:00:00,")
    page = render_report(result, "test <run>")
    assert page.count("<svg") == 2 and "test &lt;run&gt;" in page and "<script" not in page


def test_csv_problems_are_named(tmp_path: Path) -> None:
    source = tmp_path / "prices.csv"
    source.write_text(",price\n2024-01-01 00:00,1\n2024-01-01 00:00,2\n")
    with pytest.raises(ValueError, match="no column 'Real price'"):
        read_price_csv(source)
    with pytest.raises(ValueError, match="repeats delivery starts"):
        read_price_csv(source, "price")


def test_exogenous_inputs_reach_the_model_for_the_forecast_day() -> None:
    prices = noisy_walk(80)
    load = pd.DataFrame({"load": prices.to_numpy() * 2 + 5}, index=prices.index)  # a perfect day-ahead signal
    options = {"windows": (42,)}
    without = run_backtest(prices, model_name="lear", test_days=2, options=options)
    with_load = run_backtest(prices, model_name="lear", test_days=2, options=options, exogenous=load)
    assert with_load.summary.mae < without.summary.mae / 2


@pytest.mark.parametrize("written", ["inf", "-inf"])
def test_an_infinite_price_is_refused_with_its_column_and_time(tmp_path: Path, written: str) -> None:
    source = tmp_path / "prices.csv"
    source.write_text(f",Real price\n2024-01-01 00:00,1\n2024-01-01 01:00,{written}\n2024-01-01 02:00,3\n")
    with pytest.raises(ValueError, match=rf"prices.csv: 'Real price' at 2024-01-01 01:00 is {written}"):
        read_price_csv(source)


def test_offsets_that_change_at_daylight_saving_time_are_read_in_utc(tmp_path: Path) -> None:
    local = pd.date_range("2024-03-30 22:00", periods=6, freq="h", tz="Europe/Oslo")  # 2024-03-31 02:00 is skipped
    source = tmp_path / "prices.csv"
    lines = [f"{stamp.isoformat()},{number}" for number, stamp in enumerate(local)]
    source.write_text("\n".join(["ts,Real price", *lines]) + "\n")
    assert "+01:00" in lines[0] and "+02:00" in lines[-1]

    in_utc = read_price_csv(source)
    in_oslo = read_price_csv(source, timezone="Europe/Oslo")

    assert not in_utc.naive_timestamps
    assert list(in_utc.prices.index) == list(local.tz_convert("UTC")) and str(in_utc.prices.index.tz) == "UTC"
    assert list(in_oslo.prices.index) == list(local) and list(in_oslo.prices) == [0, 1, 2, 3, 4, 5]


def test_clock_times_of_a_zone_repeat_the_hour_the_clocks_go_back(tmp_path: Path) -> None:
    local = pd.date_range("2024-10-27 00:00", periods=5, freq="h", tz="Europe/Oslo")  # 02:00 twice
    source = tmp_path / "prices.csv"
    lines = [f"{stamp.strftime('%Y-%m-%d %H:%M')},{number}" for number, stamp in enumerate(local)]
    source.write_text("\n".join(["ts,Real price", *lines]) + "\n")
    assert [line[11:16] for line in lines] == ["00:00", "01:00", "02:00", "02:00", "03:00"]

    assert list(read_price_csv(source, timezone="Europe/Oslo").prices.index) == list(local)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["2024-03-31 01:00", "2024-03-31 02:00", "2024-03-31 03:00"],
            "2024-03-31 02:00:00 does not exist in Europe/Oslo",
        ),
        (
            ["2024-10-27 01:00", "2024-10-27 02:00", "2024-10-27 03:00"],
            "2024-10-27 02:00:00 occurs twice in Europe/Oslo",
        ),
    ],
)
def test_times_that_are_not_clock_times_of_the_zone_are_named(tmp_path: Path, rows: list[str], message: str) -> None:
    source = tmp_path / "prices.csv"
    source.write_text("\n".join(["ts,Real price", *(f"{row},1" for row in rows)]) + "\n")
    with pytest.raises(ValueError, match=f"prices.csv: {message}"):
        read_price_csv(source, timezone="Europe/Oslo")
    assert len(read_price_csv(source).prices) == 3  # without a zone they are taken as written


def test_timestamps_with_and_without_an_offset_are_not_mixed(tmp_path: Path) -> None:
    source = tmp_path / "prices.csv"
    source.write_text("ts,Real price\n2024-01-01T00:00+01:00,1\n2024-01-01T01:00+02:00,2\n2024-01-01 02:00,3\n")
    with pytest.raises(ValueError, match="'2024-01-01 02:00' has no UTC offset but '2024-01-01T00:00\\+01:00' has"):
        read_price_csv(source)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "prices.csv is empty"),
        ("ts;Real price\n2024-01-01 00:00;1\n", "no column besides the delivery start.*comma-separated"),
        ("ts\n2024-01-01 00:00\n", "no column besides the delivery start"),
        (
            "ts,Real price\n2024-01-01 00:00,1\n02/01/2024 00:00,2\n",
            "'02/01/2024 00:00' \\(data row 2\\) is not an ISO 8601",
        ),
        ("ts,Real price\n2024-01-01 00:00,1\nnot-a-date,2\n", "'not-a-date' \\(data row 2\\) is not an ISO 8601"),
        ("ts,Real price\n2024-01-01 00:00,1\n,2\n", "data row 2 has no delivery start"),
        ("ts,Real price\n2024-01-01 00:00,abc\n", "'Real price' at 2024-01-01 00:00 is 'abc', not a number"),
    ],
)
def test_unreadable_files_say_what_and_where(tmp_path: Path, content: str, message: str) -> None:
    source = tmp_path / "prices.csv"
    source.write_text(content)
    with pytest.raises(ValueError, match=message) as caught:
        read_price_csv(source)
    assert "format='mixed'" not in str(caught.value) and "ISO8601 format" not in str(caught.value)


def test_exogenous_columns_are_read_on_the_prices_index(tmp_path: Path) -> None:
    source = tmp_path / "prices.csv"
    source.write_text(
        "ts,Real price,Load forecast,Wind forecast\n"
        "2024-10-27 02:00,10,100,5\n2024-10-27 02:00,11,,6\n2024-10-27 03:00,12,102,7\n"
    )

    read = read_price_csv(source, timezone="Europe/Berlin", exogenous_columns=["Wind forecast", "Load forecast"])

    assert read.exogenous is not None and list(read.exogenous.columns) == ["Wind forecast", "Load forecast"]
    assert read.exogenous.index.equals(read.prices.index) and read.prices.index.is_unique  # the repeated hour too
    assert read.exogenous["Wind forecast"].tolist() == [5, 6, 7]
    assert read.exogenous["Load forecast"].isna().tolist() == [False, True, False]  # an empty cell is missing
    assert read_price_csv(source, timezone="Europe/Berlin").exogenous is None
    with pytest.raises(MissingColumnError, match="no column 'Solar'") as missing:
        read_price_csv(source, exogenous_columns=["Solar"])
    assert missing.value.column == "Solar"
    with pytest.raises(ValueError, match="'Real price' is the price to forecast"):
        read_price_csv(source, exogenous_columns=["Real price"])
