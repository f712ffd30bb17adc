"""`gridpilot evaluate`: what a price forecast is worth when a battery is dispatched on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from gridpilot.market.backtest import read_price_csv
from gridpilot.market.evaluation import STANDARD_BATTERY, ArbitrageEvaluation, evaluate_arbitrage, same_hour_yesterday
from gridpilot.market.forecasting.shape import PlanningRule

app = typer.Typer(help="Evaluate dispatch on forecasts, settled on actual prices.", no_args_is_help=True)


def _read_column(path: Path, column: str, hint: str) -> pd.Series:
    try:
        return read_price_csv(path, column).prices
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


@app.command()
def dispatch(
    prices_csv: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: delivery start, then prices")],
    forecasts: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CSV with the forecast (default: PRICES_CSV itself)"),
    ] = None,
    price_column: Annotated[str, typer.Option(help="Column of PRICES_CSV holding the actual price")] = "Real price",
    forecast_column: Annotated[
        str, typer.Option(help="Column holding the forecast, e.g. 'DNN Ensemble' in the EPF files")
    ] = "forecast",
    days: Annotated[int | None, typer.Option(min=1, help="Only the last N days with a forecast")] = None,
    shape_correction_days: Annotated[
        int,
        typer.Option(min=0, help="Add to each day's forecast its mean shape error over the N days before (0: none)"),
    ] = 0,
    shape_scale: Annotated[
        float,
        typer.Option(min=0.0, help="Then stretch each day's forecast around its mean by this factor (1: none)"),
    ] = 1.0,
) -> None:
    """Dispatch the standard battery (1 MW / 2 MWh, 95 %/95 %, SoC 10-90 %, 50 % at each day's start and end)
    on the forecast, one optimization per day, settle on the actual price; compare with perfect foresight.
    The shape options change what the forecast's plans are made on, not same hour yesterday's."""
    actual = _read_column(prices_csv, price_column, "--price-column")
    forecast = _read_column(forecasts or prices_csv, forecast_column, "--forecast-column").dropna()
    forecast = forecast[forecast.index.isin(actual.index)]
    if forecast.empty:
        raise typer.BadParameter("no forecast period matches a period of the prices", param_hint="--forecasts")
    window = actual.loc[forecast.index]
    naive = same_hour_yesterday(actual).loc[forecast.index]
    rule = PlanningRule(shape_scale=shape_scale, correction_days=shape_correction_days)
    results = {
        _label(forecast_column, rule): evaluate_arbitrage(window, forecast, last_days=days, rule=rule),
        "same hour yesterday": evaluate_arbitrage(window, naive, last_days=days),
    }
    _print(Console(), results)


def _label(forecast_column: str, rule: PlanningRule) -> str:
    changes = []
    if rule.correction_days:
        changes.append(f"shape corrected over {rule.correction_days} d")
    if rule.shape_scale != 1.0:
        changes.append(f"shape × {rule.shape_scale:g}")
    return ", ".join([f"forecast ({forecast_column})", *changes])


def _print(console: Console, results: dict[str, ArbitrageEvaluation]) -> None:
    first = next(iter(results.values()))
    if first.days.empty:
        console.print("[red]no complete day with both an actual price and a forecast[/red]")
        raise typer.Exit(1)
    battery = STANDARD_BATTERY
    span = f"{first.days.index[0].date()} .. {first.days.index[-1].date()}"
    table = Table(
        title=f"{len(first.days)} days ({span}), battery {battery.max_discharge_kw / 1000:g} MW / "
        f"{battery.capacity_kwh / 1000:g} MWh"
    )
    for heading in ("dispatched on", "revenue", "share of perfect foresight"):
        table.add_column(heading, justify="right" if heading != "dispatched on" else "left")
    for name, result in results.items():
        table.add_row(name, f"{result.revenue:,.0f}", f"{result.captured_share * 100:.1f} %")
    table.add_row("perfect foresight", f"{first.perfect_revenue:,.0f}", "100.0 %")
    console.print(table)
    if first.skipped_days:
        console.print(f"{first.skipped_days} incomplete day(s) left out")
