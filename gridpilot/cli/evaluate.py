"""`gridpilot evaluate`: what a price forecast is worth when a battery is dispatched on it."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from gridpilot.cli.prices import zone
from gridpilot.market.backtest import MissingColumnError, read_price_csv
from gridpilot.market.dispatch import Battery
from gridpilot.market.dispatch.inputs import MAX_PRICE_PER_MWH
from gridpilot.market.evaluation import (
    STANDARD_BATTERY,
    ArbitrageEvaluation,
    evaluate_on_shared_days,
    same_hour_yesterday,
)
from gridpilot.market.forecasting.shape import PLAN_ON_FORECAST, PlanningRule
from gridpilot.market.household import HOME_BATTERY, HouseholdEvaluation, evaluate_household, synthetic_household

app = typer.Typer(help="Evaluate dispatch on forecasts, settled on actual prices.", no_args_is_help=True)


def _read_column(path: Path, column: str, file_hint: str, column_hint: str, timezone: str | None = None) -> pd.Series:
    """One column of a CSV; a usage error names the option at fault: the column's name, or the file."""
    try:
        return read_price_csv(path, column, timezone).prices
    except MissingColumnError as exc:
        raise typer.BadParameter(str(exc), param_hint=column_hint) from None
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc), param_hint=file_hint) from None


def _read_prices(path: Path, column: str, file_hint: str, column_hint: str, timezone: str | None = None) -> pd.Series:
    """A column of prices the optimizer accepts: beyond ±MAX_PRICE_PER_MWH a value is a unit or typing mistake."""
    prices = _read_column(path, column, file_hint, column_hint, timezone)
    beyond = prices.index[prices.abs() > MAX_PRICE_PER_MWH]
    if len(beyond):
        raise typer.BadParameter(
            f"{path}: {column!r} at {beyond[0]} is {prices[beyond[0]]:g}, beyond ±{MAX_PRICE_PER_MWH:g} per MWh",
            param_hint=file_hint,
        )
    return prices


def _finite_scale(value: float) -> float:
    if not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, not {value:g}")
    if value < 0:
        raise typer.BadParameter(f"must be at least 0, not {value:g}")
    return value


def _known_zone(name: str | None) -> str | None:
    if name is not None:
        zone(name)
    return name


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
        typer.Option(
            callback=_finite_scale,
            help="Then stretch each day's forecast around its mean by this factor, at least 0 (1: none)",
        ),
    ] = 1.0,
    timezone: Annotated[
        str | None,
        typer.Option(
            callback=_known_zone,
            help="Market time zone: days are its local days (23 or 25 hours at DST changes) and timestamps "
            "without an offset are in it; default: timestamps as written (in UTC if their offset changes)",
        ),
    ] = None,
) -> None:
    """Dispatch the standard battery (1 MW / 2 MWh, 95 %/95 %, SoC 10-90 %, 50 % at each day's start and end)
    on the forecast, one optimization per day, settle on the actual price; compare with perfect foresight.
    The shape options change what the forecast's plans are made on, not same hour yesterday's."""
    actual = _read_prices(prices_csv, price_column, "PRICES_CSV", "--price-column", timezone)
    forecast_hint = "PRICES_CSV" if forecasts is None else "--forecasts"
    forecast = _read_prices(
        forecasts or prices_csv, forecast_column, forecast_hint, "--forecast-column", timezone
    ).dropna()
    forecast = forecast[forecast.index.isin(actual.index)]
    if forecast.empty:
        raise typer.BadParameter("no forecast period matches a period of the prices", param_hint="--forecasts")
    window = actual.loc[forecast.index]
    naive = same_hour_yesterday(actual).loc[forecast.index]
    rule = PlanningRule(shape_scale=shape_scale, correction_days=shape_correction_days)
    console = Console()
    plans = {_label(forecast_column, rule): (forecast, rule), "same hour yesterday": (naive, PLAN_ON_FORECAST)}
    try:
        results = evaluate_on_shared_days(window, plans, last_days=days)
    except ValueError as exc:  # e.g. a shape scale that stretches a forecast beyond what the optimizer accepts
        console.print(f"[red]evaluation failed:[/red] {exc}")
        raise typer.Exit(1) from None
    _print(console, results)


@app.command()
def household(
    prices_csv: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: delivery start, then prices")],
    profile: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="CSV: delivery start, load_kw, pv_kw (mean kW per period, the prices' periods); "
            "default: a synthetic household (3,500 kWh a year, 5 kWp PV)",
        ),
    ] = None,
    price_column: Annotated[str, typer.Option(help="Column of PRICES_CSV holding the day-ahead price")] = "Real price",
    network_fee: Annotated[
        float, typer.Option(min=0.0, help="Added to the day-ahead price on import, per MWh (export earns the price)")
    ] = 150.0,
    days: Annotated[
        int | None, typer.Option(min=1, help="Bill only the last N days (earlier ones feed forecasts)")
    ] = None,
    capacity_kwh: Annotated[float, typer.Option(min=0.0, help="Battery capacity")] = HOME_BATTERY.capacity_kwh,
    power_kw: Annotated[float, typer.Option(min=0.0, help="Battery power, charging and discharging")] = (
        HOME_BATTERY.max_charge_kw
    ),
) -> None:
    """A household's electricity bill with no battery, the self-consumption rule, and the optimizer: with the
    day's load and PV known (an upper bound), planned again every period on a forecast (what a controller on
    site can do), and planned on yesterday's load and PV and run blindly. Battery 95 %/95 %, SoC 10-90 %."""
    prices = _read_prices(prices_csv, price_column, "PRICES_CSV", "--price-column")
    try:
        battery = replace(HOME_BATTERY, capacity_kwh=capacity_kwh, max_charge_kw=power_kw, max_discharge_kw=power_kw)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--capacity-kwh / --power-kw") from None
    if profile is None:
        title = "synthetic household (3,500 kWh a year, 5 kWp PV)"
        load_and_pv = synthetic_household(pd.DatetimeIndex(prices.index))
    else:
        title = str(profile)
        load_and_pv = _read_profile(profile).reindex(prices.index)
    console = Console()
    try:
        result = evaluate_household(
            prices, load_and_pv, network_fee_per_mwh=network_fee, battery=battery, last_days=days
        )
    except ValueError as exc:  # e.g. a network fee or a load beyond what the optimizer accepts
        console.print(f"[red]evaluation failed:[/red] {exc}")
        raise typer.Exit(1) from None
    _print_household(console, title, battery, result)


def _read_profile(path: Path) -> pd.DataFrame:
    columns = {}
    for column in ("load_kw", "pv_kw"):
        values = _read_column(path, column, "--profile", "--profile")
        if (values < 0).any():
            first = values.index[values < 0][0]
            raise typer.BadParameter(
                f"{column} must not be negative: {values[first]:g} at {first}", param_hint="--profile"
            )
        columns[column] = values
    return pd.DataFrame(columns)


def _print_household(console: Console, title: str, battery: Battery, result: HouseholdEvaluation) -> None:
    if result.days == 0:
        console.print("[red]no complete day with a price, a load and a PV value in every period[/red]")
        raise typer.Exit(1)
    table = Table(
        title=f"{title}: {result.days} days, battery {battery.capacity_kwh:g} kWh / {battery.max_charge_kw:g} kW"
    )
    for heading in ("run by", "bill", "vs no battery", "vs the rule"):
        table.add_column(heading, justify="right" if heading != "run by" else "left")
    rows = (
        ("no battery", result.without_battery),
        ("self-consumption rule", result.rule_based),
        ("optimizer, load and PV known (bound)", result.optimized),
        ("optimizer, re-planned on a forecast", result.receding_horizon),
        ("optimizer, yesterday's plan run blindly", result.optimized_on_yesterday),
    )
    for name, bill in rows:
        table.add_row(
            name, f"{bill:,.2f}", _cut(result, bill, result.without_battery), _cut(result, bill, result.rule_based)
        )
    console.print(table)


def _cut(result: HouseholdEvaluation, bill: float, baseline: float) -> str:
    return f"{result.reduction(bill, baseline) * 100:.1f} %" if baseline else "-"


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
    earns = first.perfect_revenue > 0  # otherwise no share is defined
    for name, result in results.items():
        table.add_row(name, f"{result.revenue:,.0f}", f"{result.captured_share * 100:.1f} %" if earns else "-")
    table.add_row("perfect foresight", f"{first.perfect_revenue:,.0f}", "100.0 %" if earns else "-")
    console.print(table)
    if first.skipped_days:
        console.print(f"{first.skipped_days} incomplete day(s) left out (a period, a price or a forecast missing)")
