"""Rolling daily backtests: recalibrate on the past, forecast the next day, over many days on all cores."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from gridpilot.market.forecasting import create_model
from gridpilot.market.forecasting.daily import before_day, daily_matrix
from gridpilot.market.forecasting.metrics import ErrorSummary, summarize
from gridpilot.market.forecasting.naive import NaiveWeekly

FIXED_CLOCK = "UTC"
"""The zone given to timestamps without an offset when no zone is named: every day then has 24 hours."""


@dataclass(frozen=True)
class PriceFile:
    """Prices read from a CSV, and whether its timestamps had no offset (they are written back the same way)."""

    prices: pd.Series
    naive_timestamps: bool
    exogenous: pd.DataFrame | None = None
    """The day-ahead inputs asked for (e.g. load and wind forecasts), on the prices' index; None if none."""


@dataclass(frozen=True)
class BacktestResult:
    """Every period's actual price and forecast, the weekly naive forecast of the same periods, and the errors."""

    model: str
    forecasts: pd.DataFrame
    naive: pd.Series
    summary: ErrorSummary


class MissingColumnError(ValueError):
    """The CSV has no column of the name asked for: the name is wrong (or the file is not comma-separated)."""

    def __init__(self, message: str, column: str) -> None:
        super().__init__(message)
        self.column = column


def read_price_csv(
    path: Path,
    price_column: str = "Real price",
    timezone: str | None = None,
    exogenous_columns: Sequence[str] = (),
) -> PriceFile:
    """Prices from a CSV whose first column is the delivery start; naive times are in `timezone` (or taken as given).

    Delivery starts are ISO 8601 timestamps, all with a UTC offset or all without one. Offsets that change
    within the file (daylight saving time) are converted to UTC, then to `timezone` if one is given. An empty
    cell is a missing price (NaN); an infinite one is refused, not skipped: no market clears at infinity, so it
    is a typing or unit mistake that would otherwise surface far from the file. `exogenous_columns` are read
    the same way, as day-ahead inputs: the models use their values on the forecast day itself, so they must be
    forecasts known before the auction, never the prices.
    """
    frame = _read_frame(path)
    for column in (price_column, *exogenous_columns):
        _require_column(path, frame, column)
    if price_column in exogenous_columns:
        raise ValueError(f"{price_column!r} is the price to forecast: it cannot also be an exogenous input")
    index = _delivery_starts(path, frame.index)
    naive = index.tz is None
    if naive:
        index = _localized(path, index, timezone or FIXED_CLOCK)
    elif timezone is not None:
        index = index.tz_convert(timezone)
    prices = pd.Series(_finite_or_missing(path, price_column, frame[price_column]), index=index, name="price")
    if prices.index.has_duplicates:
        raise ValueError(f"{path} repeats delivery starts, e.g. {prices.index[prices.index.duplicated()][0]}")
    exogenous = None
    if exogenous_columns:
        columns = {column: _finite_or_missing(path, column, frame[column]) for column in exogenous_columns}
        exogenous = pd.DataFrame(columns, index=index).sort_index()
    return PriceFile(prices.sort_index(), naive and timezone is None, exogenous)


def _require_column(path: Path, frame: pd.DataFrame, column: str) -> None:
    if column in frame.columns:
        return
    if frame.columns.empty:
        raise MissingColumnError(
            f"{path} has no column besides the delivery start, so none named {column!r}: is it comma-separated?",
            column,
        )
    raise MissingColumnError(
        f"{path} has no column {column!r}; its columns are {', '.join(map(str, frame.columns))}", column
    )


def _localized(path: Path, index: pd.DatetimeIndex, zone: str) -> pd.DatetimeIndex:
    """Clock times of `zone`; the hour repeated when clocks go back is told apart by the order of the rows."""
    try:
        return index.tz_localize(zone, ambiguous="infer", nonexistent="raise")
    except ValueError:
        pass
    unplaced = index[index.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").isna()]
    skipped = [stamp for stamp in unplaced if pd.isna(stamp.tz_localize(zone, ambiguous=True, nonexistent="NaT"))]
    if skipped:
        raise ValueError(
            f"{path}: {skipped[0]} does not exist in {zone} (its clocks skip that hour): the delivery starts are not "
            f"{zone}'s clock times; give them a UTC offset, or read them without a time zone"
        )
    raise ValueError(
        f"{path}: {unplaced[0]} occurs twice in {zone} (its clocks go back) and the rows do not tell which: "
        "give the delivery starts a UTC offset"
    )


def _read_frame(path: Path) -> pd.DataFrame:
    """The CSV with its first column (the delivery starts) as text, for read_price_csv to parse and name."""
    try:
        return pd.read_csv(path, index_col=0, dtype={0: str})
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a CSV file that can be read: {exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None


def _delivery_starts(path: Path, labels: pd.Index) -> pd.DatetimeIndex:
    """The first column as timestamps, naive or with an offset; offsets that change are converted to UTC."""
    try:
        index = pd.DatetimeIndex(pd.to_datetime(labels, format="ISO8601"))
    except ValueError:  # a value that is not ISO 8601, or UTC offsets that differ between rows
        index = _delivery_starts_in_utc(path, labels)
    missing = np.flatnonzero(index.isna())
    if missing.size:
        raise ValueError(f"{path}: data row {missing[0] + 1} has no delivery start")
    return index


def _delivery_starts_in_utc(path: Path, labels: pd.Index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(pd.to_datetime(labels, format="ISO8601", utc=True, errors="coerce"))
    present = np.asarray(labels.notna(), dtype=bool)
    unreadable = np.flatnonzero(index.isna() & present)
    if unreadable.size:
        row = int(unreadable[0])
        raise ValueError(
            f"{path}: delivery start {labels[row]!r} (data row {row + 1}) is not an ISO 8601 timestamp "
            "such as 2024-01-31 13:00 or 2024-01-31T13:00+01:00"
        )
    with_offset = np.array([bool(ok) and _has_offset(str(label)) for label, ok in zip(labels, present, strict=True)])
    without = np.flatnonzero(present & ~with_offset)
    if without.size:  # utc=True would have taken these for UTC: a guess, not what the file says
        first_with = int(np.flatnonzero(with_offset)[0])
        raise ValueError(
            f"{path}: delivery start {labels[int(without[0])]!r} has no UTC offset but {labels[first_with]!r} "
            "has one: give every delivery start an offset, or none"
        )
    return index


def _has_offset(label: str) -> bool:
    try:
        return datetime.fromisoformat(label).tzinfo is not None
    except ValueError:  # ISO 8601 forms Python's parser lacks, e.g. nanoseconds
        return pd.Timestamp(label).tzinfo is not None


def _finite_or_missing(path: Path, column: str, values: pd.Series) -> npt.NDArray[np.float64]:
    """The column as floats: empty cells become NaN; text and infinite numbers are refused with their row."""
    numbers = pd.to_numeric(values, errors="coerce")
    unreadable = np.flatnonzero(numbers.isna().to_numpy() & values.notna().to_numpy())
    if unreadable.size:
        row = int(unreadable[0])
        hint = " (use a decimal point, not a comma)" if "," in str(values.iloc[row]) else ""
        raise ValueError(f"{path}: {column!r} at {values.index[row]} is {values.iloc[row]!r}, not a number{hint}")
    array = np.asarray(numbers, dtype=np.float64)
    infinite = np.flatnonzero(np.isinf(array))
    if infinite.size:
        row = int(infinite[0])
        raise ValueError(
            f"{path}: {column!r} at {values.index[row]} is {array[row]:g}: only finite numbers are accepted"
        )
    return array


def last_days(prices: pd.Series, count: int) -> list[date]:
    """The last `count` delivery days of the prices, oldest first."""
    days = daily_matrix(prices).index
    if count < 1 or count >= len(days):
        raise ValueError(f"cannot test {count} days of a series of {len(days)} days: some history must stay before")
    return [day.date() for day in days[-count:]]


def forecast_days(
    prices: pd.Series,
    days: Sequence[date],
    model_name: str,
    options: Mapping[str, Any],
    exogenous: pd.DataFrame | None = None,
    on_day_done: Callable[[], None] | None = None,
) -> pd.Series:
    """For each day: recalibrate on the prices before it, forecast it; the forecasts of all days in one Series."""
    model = create_model(model_name, **options)
    forecasts = []
    for day in days:
        history = before_day(prices, day)
        model.fit(history, None if exogenous is None else exogenous[exogenous.index <= history.index[-1]])
        forecasts.append(model.predict(prices, day, exogenous))
        if on_day_done is not None:
            on_day_done()
    return pd.concat(forecasts)


def _limit_threads() -> None:
    """One BLAS/OpenMP thread per worker process: the parallelism is across processes."""
    threadpool_limits(limits=1)


def _forecast_in_parallel(
    prices: pd.Series,
    days: Sequence[date],
    model_name: str,
    options: Mapping[str, Any],
    exogenous: pd.DataFrame | None,
    jobs: int,
    chunk_days: int,
    on_days_done: Callable[[int], None] | None,
) -> pd.Series:
    chunks = [list(days[start : start + chunk_days]) for start in range(0, len(days), chunk_days)]
    context = multiprocessing.get_context("spawn")  # fork would copy the caller's threads (e.g. a progress bar)
    parts = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_limit_threads) as pool:
        futures = {
            pool.submit(forecast_days, prices, chunk, model_name, dict(options), exogenous): len(chunk)
            for chunk in chunks
        }
        for future in as_completed(futures):
            parts.append(future.result())
            if on_days_done is not None:
                on_days_done(futures[future])
    return pd.concat(parts).sort_index()


def run_backtest(
    prices: pd.Series,
    *,
    model_name: str,
    test_days: int,
    options: Mapping[str, Any] | None = None,
    exogenous: pd.DataFrame | None = None,
    jobs: int = 1,
    chunk_days: int = 7,
    on_days_done: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Forecast each of the last `test_days` days from the days before it only, recalibrating every day."""
    days = last_days(prices, test_days)
    options = options or {}
    if jobs > 1 and len(days) > chunk_days:
        forecast = _forecast_in_parallel(prices, days, model_name, options, exogenous, jobs, chunk_days, on_days_done)
    else:
        forecast = forecast_days(
            prices, days, model_name, options, exogenous, None if on_days_done is None else lambda: on_days_done(1)
        )
    naive = forecast_days(prices, days, NaiveWeekly.name, {})
    actual = prices.reindex(forecast.index)
    frame = pd.DataFrame({"timestamp": forecast.index, "actual": actual.to_numpy(), "forecast": forecast.to_numpy()})
    known = actual.notna().to_numpy()
    summary = summarize(actual.to_numpy()[known], forecast.to_numpy()[known], naive.to_numpy()[known])
    return BacktestResult(model_name, frame, naive, summary)


def write_forecasts(result: BacktestResult, path: Path, naive_timestamps: bool) -> None:
    """`timestamp,actual,forecast` per period; timestamps keep the offset style of the input file."""
    frame = result.forecasts.copy()
    if naive_timestamps:
        frame["timestamp"] = frame["timestamp"].dt.tz_localize(None)
    frame.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S" if naive_timestamps else None)
