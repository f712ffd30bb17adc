"""`gridpilot forecast`: backtest the day-ahead price models on a CSV of prices."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from gridpilot.market.backtest import (
    BacktestResult,
    MissingColumnError,
    read_price_csv,
    run_backtest,
    write_forecasts,
)
from gridpilot.market.forecasting import MODEL_NAMES, InsufficientHistoryError
from gridpilot.market.report import render_report

app = typer.Typer(help="Day-ahead price forecasts: backtests of the models.", no_args_is_help=True)


def _check_model(name: str) -> str:
    if name not in MODEL_NAMES:
        raise typer.BadParameter(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return name


def print_summary(console: Console, result: BacktestResult, seconds: float) -> None:
    """The error measures as a table, then the run time."""
    summary = result.summary
    table = Table(title=f"{result.model}: {len(result.forecasts)} periods")
    for heading in ("MAE", "rMAE", "sMAPE %", "RMSE", "MAE % of mean"):
        table.add_column(heading, justify="right")
    table.add_row(
        f"{summary.mae:.4f}",
        f"{summary.rmae:.4f}",
        f"{summary.smape:.4f}",
        f"{summary.rmse:.4f}",
        f"{summary.mae_percent_of_mean:.2f}",
    )
    console.print(table)
    console.print(f"backtest took {seconds:.1f} s")


@app.command()
def backtest(
    prices_csv: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: delivery start, then prices")],
    out: Annotated[Path, typer.Option("--out", help="Where to write timestamp,actual,forecast")],
    price_column: Annotated[str, typer.Option(help="Column holding the actual price")] = "Real price",
    test_days: Annotated[int, typer.Option(min=1, help="Forecast the last N days of the file")] = 364,
    model: Annotated[str, typer.Option(callback=_check_model, help=f"One of: {', '.join(MODEL_NAMES)}")] = "lear",
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report here")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes; default: every core")] = os.cpu_count() or 1,
    timezone: Annotated[
        str | None,
        typer.Option(help="Market time zone (delivery days are its local days); default: timestamps as written"),
    ] = None,
    exogenous_column: Annotated[
        list[str] | None,
        typer.Option(
            help="A column of day-ahead inputs known before the auction (e.g. a load or wind forecast), used "
            "for the forecast day, the day before and a week before; repeat for several"
        ),
    ] = None,
) -> None:
    """Forecast each of the last N days from the days before it only, recalibrating every day, and score it."""
    console = Console()
    exogenous_columns = exogenous_column or []
    if price_column in exogenous_columns:
        raise typer.BadParameter(
            f"{price_column!r} is the price to forecast: it cannot also be an exogenous input",
            param_hint="--exogenous-column",
        )
    try:
        price_file = read_price_csv(prices_csv, price_column, timezone, exogenous_columns)
    except MissingColumnError as exc:
        option = "--price-column" if exc.column == price_column else "--exogenous-column"
        raise typer.BadParameter(str(exc), param_hint=option) from None
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc), param_hint="PRICES_CSV") from None
    started = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"backtest {model}", total=test_days)
        try:
            result = run_backtest(
                price_file.prices,
                model_name=model,
                test_days=test_days,
                exogenous=price_file.exogenous,
                jobs=jobs,
                on_days_done=lambda count: progress.advance(task, count),
            )
        except (InsufficientHistoryError, ValueError) as exc:
            console.print(f"[red]backtest failed:[/red] {exc}")
            raise typer.Exit(1) from None
    write_forecasts(result, out, price_file.naive_timestamps)
    print_summary(console, result, time.perf_counter() - started)
    console.print(f"forecasts written to {out}")
    if report is not None:
        report.write_text(render_report(result, f"Backtest of {model} on {prices_csv.name}"))
        console.print(f"report written to {report}")
