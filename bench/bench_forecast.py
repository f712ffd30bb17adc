"""Day-ahead price forecasts: rolling 364-day backtests of our models beside the published LEAR and DNN ensembles.

Run: .venv/bin/python bench/bench_forecast.py        (all three markets, every model; about an hour on 2 cores)
For each market file of ../shared/data/epf, each model is recalibrated every day on the prices before it and
forecasts the next day, over the last 364 days of the file; the published ensembles' forecasts of the same hours
come from the same file. Progress goes to stderr, a markdown table to stdout.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from provenance import ROOT, git_revision
from rich.console import Console
from rich.progress import Progress

from gridpilot.market.backtest import read_price_csv, run_backtest
from gridpilot.market.forecasting import MODEL_NAMES
from gridpilot.market.forecasting.metrics import mae, relative_mae

DATA = ROOT.parent / "shared" / "data" / "epf"
PUBLISHED = ("LEAR Ensemble", "DNN Ensemble")
MARKETS = ["NP", "PJM", "BE"]
MODELS = list(MODEL_NAMES)


def published_mae(path: Path, timestamps: pd.Series, naive: pd.Series) -> dict[str, tuple[float, float]]:
    """MAE and rMAE of the published ensembles on exactly the hours we forecast."""
    frame = pd.read_csv(path, index_col=0)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index)).tz_localize("UTC")
    rows = frame.loc[pd.DatetimeIndex(timestamps)]
    return {
        column: (mae(rows["Real price"], rows[column]), relative_mae(rows["Real price"], rows[column], naive))
        for column in PUBLISHED
    }


def main(
    markets: Annotated[list[str], typer.Option("--market", help="Market files to backtest (repeatable)")] = MARKETS,
    models: Annotated[list[str], typer.Option("--model", help="Models to backtest (repeatable)")] = MODELS,
    test_days: Annotated[int, typer.Option(help="Days forecast at the end of each file")] = 364,
    jobs: Annotated[int, typer.Option(help="Worker processes per backtest")] = os.cpu_count() or 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every figure here")] = None,
) -> None:
    """Backtest every model on every market and print the table for docs/benchmarks.md."""
    err = Console(stderr=True)
    started_at = datetime.now(UTC)
    rows: list[dict[str, object]] = []
    for market in markets:
        path = DATA / f"{market}.csv"
        prices = read_price_csv(path).prices
        reference: dict[str, tuple[float, float]] = {}
        for model in models:
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task(f"{market} {model}", total=test_days)
                began = time.perf_counter()
                result = run_backtest(
                    prices,
                    model_name=model,
                    test_days=test_days,
                    jobs=jobs,
                    on_days_done=functools.partial(progress.advance, task),
                )
                seconds = time.perf_counter() - began
            summary = result.summary
            reference = reference or published_mae(path, result.forecasts["timestamp"], result.naive)
            rows.append({"market": market, "model": model, "seconds": seconds, **summary.as_dict()})
            err.print(f"{market} {model}: MAE {summary.mae:.3f} rMAE {summary.rmae:.3f} in {seconds:.0f} s")
        for column, (column_mae, column_rmae) in reference.items():
            mean_price = float(prices.iloc[-test_days * 24 :].mean())
            rows.append(
                {
                    "market": market,
                    "model": f"published {column}",
                    "mae": column_mae,
                    "rmae": column_rmae,
                    "mae_percent_of_mean": 100 * column_mae / mean_price,
                }
            )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"started {started_at:%Y-%m-%d %H:%M} UTC, commit {git_revision()}")
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {jobs} worker processes per backtest"
    )
    print()
    print("| market | model | MAE | MAE % of mean price | rMAE (vs. weekly naive) | sMAPE % | RMSE | backtest time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        smape = f"{row['smape']:.2f}" if "smape" in row else "–"
        rmse = f"{row['rmse']:.2f}" if "rmse" in row else "–"
        runtime = f"{row['seconds']:.0f} s" if "seconds" in row else "–"
        print(
            f"| {row['market']} | {row['model']} | {row['mae']:.3f} | {row['mae_percent_of_mean']:.2f} % "
            f"| {row['rmae']:.3f} | {smape} | {rmse} | {runtime} |"
        )
    if json_out is not None:
        json_out.write_text(json.dumps({"started": started_at.isoformat(), "rows": rows}, indent=2))


if __name__ == "__main__":
    typer.run(main)
