"""Forecast error as a live metric: served predictions joined with the actual prices once they are known."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot import observability
from gridpilot.market.models import ForecastPrediction, Price
from gridpilot.market.schemas import ForecastErrorOut

METRIC_DAYS = 7


async def forecast_errors(*, session: AsyncSession, market: str, days: int, now: datetime) -> ForecastErrorOut:
    """MAE over the delivery periods of the last `days` days, each judged by the last forecast issued before it."""
    since = now - timedelta(days=days)
    last = (
        select(
            ForecastPrediction.delivery_start,
            ForecastPrediction.resolution_minutes,
            func.max(ForecastPrediction.issued_at).label("issued_at"),
        )
        .where(
            ForecastPrediction.market == market,
            ForecastPrediction.delivery_start >= since,
            ForecastPrediction.delivery_start < now,
            ForecastPrediction.issued_at <= ForecastPrediction.delivery_start,
        )
        .group_by(ForecastPrediction.delivery_start, ForecastPrediction.resolution_minutes)
        .subquery()
    )
    error = func.abs(ForecastPrediction.price - Price.price)
    query = (
        select(func.count(), func.avg(error), func.avg(func.abs(Price.price)))
        .select_from(ForecastPrediction)
        .join(
            last,
            and_(
                ForecastPrediction.delivery_start == last.c.delivery_start,
                ForecastPrediction.resolution_minutes == last.c.resolution_minutes,
                ForecastPrediction.issued_at == last.c.issued_at,
            ),
        )
        .join(
            Price,
            and_(
                Price.market == ForecastPrediction.market,
                Price.delivery_start == ForecastPrediction.delivery_start,
                Price.resolution_minutes == ForecastPrediction.resolution_minutes,
            ),
        )
        .where(ForecastPrediction.market == market)
    )
    periods, mae, mean_actual = (await session.execute(query)).one()
    mae = float(mae) if mae is not None else None
    mean_actual = float(mean_actual) if mean_actual is not None else None
    return ForecastErrorOut(
        market=market,
        days=days,
        since=since,
        periods=int(periods),
        mae=mae,
        mean_actual=mean_actual,
        mae_pct_of_mean=100 * mae / mean_actual if mae is not None and mean_actual else None,
    )


async def refresh_metrics(*, session: AsyncSession, now: datetime) -> None:
    """Set the forecast error gauges of every market that has served forecasts (called at scrape time)."""
    markets = await session.scalars(select(ForecastPrediction.market).distinct())
    for market in list(markets):
        errors = await forecast_errors(session=session, market=market, days=METRIC_DAYS, now=now)
        observability.FORECAST_ERROR_PERIODS.labels(market).set(errors.periods)
        if errors.mae is not None:
            observability.FORECAST_MAE.labels(market).set(errors.mae)
