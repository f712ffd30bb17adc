"""The days the peer benchmarks (bench_emhass.py, bench_flexmeasures.py) solve: each market's test year, hourly.

Shared so that both peers, each run in its own virtual environment, solve exactly the same days.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "epf"
DAYS = 364


def test_days(market: str) -> tuple[list[str], np.ndarray]:
    """The last 364 days of `Real price`, one row of 24 hours per day, and their dates."""
    frame = pd.read_csv(DATA / f"{market}.csv", index_col=0)
    index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    per_day = pd.Series(1, index=index).groupby(index.normalize()).size()
    if not (per_day == 24).all():
        raise SystemExit(f"{market}: not every day has 24 hourly rows")
    prices = frame["Real price"].to_numpy(dtype=np.float64)[-DAYS * 24 :].reshape(DAYS, 24)
    if np.isnan(prices).any():
        raise SystemExit(f"{market}: missing prices in the test year")
    dates = [str(day.date()) for day in index[-DAYS * 24 :: 24]]
    return dates, prices
