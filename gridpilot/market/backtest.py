"""Rolling daily backtests: recalibrate on the past, forecast the next day, over many days on all cores."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
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


@dataclass(frozen=True)
class BacktestResult:
    """Every period's actual price and forecast, the weekly naive forecast of the same periods, and the errors."""

    model: str
    forecasts: pd.DataFrame
    naive: pd.Series
    summary: ErrorSummary


def read_price_csv(path: Path, price_column: str = "Real price", timezone: str | None = None) -> PriceFile:
    """Prices from a CSV whose first column is the delivery start; naive times are in `timezone` (or taken as given)."""
    frame = pd.read_csv(path, index_col=0)
    if price_column not in frame.columns:
        raise ValueError(f"{path} has no column {price_column!r}; its columns are {', '.join(map(str, frame.columns))}")
    index = pd.DatetimeIndex(pd.to_datetime(frame.index, format="ISO8601"))
    naive = index.tz is None
    if naive:
        index = index.tz_localize(timezone or FIXED_CLOCK, ambiguous="raise", nonexistent="raise")
    elif timezone is not None:
        index = index.tz_convert(timezone)
    prices = pd.Series(pd.to_numeric(frame[price_column]).to_numpy(dtype=np.float64), index=index, name="price")
    if prices.index.has_duplicates:
        raise ValueError(f"{path} repeats delivery starts, e.g. {prices.index[prices.index.duplicated()][0]}")
    return PriceFile(prices.sort_index(), naive and timezone is None)


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
