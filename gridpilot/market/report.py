"""A self-contained HTML page of one backtest: figures as inline SVG, no scripts, nothing fetched."""

from __future__ import annotations

import html
import io

import pandas as pd
from matplotlib.figure import Figure  # a bare Figure draws without pyplot or a GUI backend

from gridpilot.market.backtest import BacktestResult

LABELS = {
    "mae": "MAE",
    "rmae": "rMAE (vs. weekly naive)",
    "smape": "sMAPE (%)",
    "rmse": "RMSE",
    "mean_price": "mean price",
    "mae_percent_of_mean": "MAE / mean price (%)",
}


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def forecast_figure(forecasts: pd.DataFrame) -> str:
    """Actual and forecast prices over the whole test period."""
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots()
    axes.plot(forecasts["timestamp"], forecasts["actual"], linewidth=0.6, label="actual")
    axes.plot(forecasts["timestamp"], forecasts["forecast"], linewidth=0.6, label="forecast")
    axes.set_ylabel("price")
    axes.legend(loc="upper left")
    return _svg(figure)


def hourly_error_figure(forecasts: pd.DataFrame) -> str:
    """MAE by hour of the delivery day: where in the day the model misses."""
    errors = (forecasts["forecast"] - forecasts["actual"]).abs()
    by_hour = errors.groupby(pd.DatetimeIndex(forecasts["timestamp"]).hour).mean()
    figure = Figure(figsize=(8, 3))
    axes = figure.subplots()
    axes.bar(by_hour.index, by_hour.to_numpy())
    axes.set_xlabel("hour of day (market time)")
    axes.set_ylabel("MAE")
    return _svg(figure)


def render_report(result: BacktestResult, title: str) -> str:
    """The page: error measures, forecast against actual, error by hour of day."""
    rows = "".join(
        f"<tr><th>{html.escape(LABELS[name])}</th><td>{value:.3f}</td></tr>"
        for name, value in result.summary.as_dict().items()
    )
    forecasts = result.forecasts
    period = f"{forecasts['timestamp'].iloc[0]} to {forecasts['timestamp'].iloc[-1]}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 12px;text-align:left}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Model <b>{html.escape(result.model)}</b>, {len(forecasts)} periods, {html.escape(period)}; each day "
        "forecast from the prices before it only, recalibrating every day.</p>"
        f"<table>{rows}</table>"
        f"<h2>Forecast and actual price</h2>{forecast_figure(forecasts)}"
        f"<h2>MAE by hour of day</h2>{hourly_error_figure(forecasts)}"
        "</body></html>\n"
    )
