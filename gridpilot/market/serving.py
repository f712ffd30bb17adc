"""Serve forecasts: each market's current model kept in memory, reloaded when a new version is promoted."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.config import Settings
from gridpilot.market import registry
from gridpilot.market import service as price_service
from gridpilot.market.exceptions import (
    ForecastDayOutOfRange,
    ModelArtifactUnavailable,
    NoCurrentModel,
    NotEnoughHistory,
)
from gridpilot.market.forecasting.base import InsufficientHistoryError, PriceModel
from gridpilot.market.models import ForecastModel, ForecastPrediction, Price
from gridpilot.market.schemas import ForecastOut, ForecastPoint
from gridpilot.market.series import FIRST_DAY, check_day, day_bounds, day_periods, local_day, price_series

LOOKBACK_DAYS = 14  # the prices read before the day: enough for every model's lags (LEAR's go back 7 days)
LAG_DAYS = 7  # the days before D a forecast for D may depend on, listed when some are missing


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A loaded model and the registry facts a forecast answer carries."""

    id: int
    name: str
    version: int
    market: str
    timezone: str
    resolution_minutes: int
    unit: str
    model: PriceModel


class ModelCache:
    """Each market's current model, loaded once; a promotion is noticed on the next request."""

    def __init__(self) -> None:
        self._models: dict[str, ServedModel] = {}
        self._lock = asyncio.Lock()

    async def served(self, *, record: ForecastModel, settings: Settings) -> ServedModel:
        """The loaded model of this registry record, loading it (off the event loop) if it is not the cached one."""
        cached = self._models.get(record.market)
        if cached is not None and cached.id == record.id:
            return cached
        async with self._lock:
            cached = self._models.get(record.market)
            if cached is not None and cached.id == record.id:
                return cached
            try:
                model = await asyncio.to_thread(registry.load, record, settings=settings)
            except (OSError, ValueError, KeyError) as exc:
                raise ModelArtifactUnavailable(
                    f"model {record.name} v{record.version} of {record.market} cannot be loaded from "
                    f"{record.artifact_path}: {exc}"
                ) from None
            served = ServedModel(
                record.id,
                record.name,
                record.version,
                record.market,
                record.timezone,
                record.resolution_minutes,
                record.unit,
                model,
            )
            self._models[record.market] = served
            return served


async def forecast(
    *, session: AsyncSession, settings: Settings, cache: ModelCache, market: str, day: date, now: datetime
) -> ForecastOut:
    """The current model's forecast of every period of `day`, logged with its issue time."""
    await price_service.get_market(session=session, code=market)
    record = await registry.current(session=session, market=market)
    if record is None:
        raise NoCurrentModel(f"market {market!r} has no current model: train one and promote it")
    served = await cache.served(record=record, settings=settings)
    try:
        check_day(day)
    except ForecastDayOutOfRange as exc:  # far ahead: say how far the stored prices reach, as for any later day
        exc.errors = [{"pointer": "/day", "code": "out_of_range", "detail": exc.detail}]
        raise await _after_latest(session=session, served=served, day=day, now=now) or exc from None
    start, _ = day_bounds(max(day - timedelta(days=LOOKBACK_DAYS), FIRST_DAY), served.timezone)
    day_start, _ = day_bounds(day, served.timezone)
    points = await price_service.price_points(
        session=session, market=market, start=start, end=day_start, resolution_minutes=served.resolution_minutes
    )
    periods = day_periods(day, served.timezone, served.resolution_minutes)
    values = await _predict(session=session, served=served, points=points, day=day, periods=periods, now=now)
    await session.execute(
        insert(ForecastPrediction),
        [
            {
                "model_id": served.id,
                "market": market,
                "delivery_start": start_,
                "resolution_minutes": served.resolution_minutes,
                "price": value,
                "issued_at": now,
            }
            for start_, value in zip(periods, values, strict=True)
        ],
    )
    await session.flush()
    return ForecastOut(
        market=market,
        day=day,
        timezone=served.timezone,
        model_id=served.id,
        model_name=served.name,
        model_version=served.version,
        issued_at=now,
        resolution_minutes=served.resolution_minutes,
        unit=served.unit,
        points=[ForecastPoint(delivery_start=s, price=v) for s, v in zip(periods, values, strict=True)],
    )


async def _predict(
    *,
    session: AsyncSession,
    served: ServedModel,
    points: list[tuple[datetime, float]],
    day: date,
    periods: list[datetime],
    now: datetime,
) -> list[float]:
    """The model's prices for the day's periods, or a specific refusal saying which inputs are missing."""
    if not points or local_day(points[-1][0], served.timezone) < day - timedelta(days=1):  # day-ahead only
        raise await _no_history(session=session, served=served, day=day, points=points, now=now)
    try:
        forecast = served.model.predict(price_series(points, served.timezone), day)
    except InsufficientHistoryError:
        raise await _no_history(session=session, served=served, day=day, points=points, now=now) from None
    index = pd.DatetimeIndex(periods).tz_convert(served.timezone)
    values = forecast.reindex(index).to_numpy(dtype="float64")
    if len(values) != len(periods) or not all(math.isfinite(v) for v in values):
        raise await _no_history(session=session, served=served, day=day, points=points, now=now)
    return [float(v) for v in values]


async def _no_history(
    *, session: AsyncSession, served: ServedModel, day: date, points: list[tuple[datetime, float]], now: datetime
) -> Exception:
    """Why the day cannot be forecast: after the last stored day, before the first, or lag days incomplete."""
    beyond = await _after_latest(session=session, served=served, day=day, now=now)
    if beyond is not None:
        return beyond
    first = await session.scalar(select(func.min(Price.delivery_start)).where(*_stored_range(served, now)))
    expected = {
        d: len(day_periods(d, served.timezone, served.resolution_minutes)) if d >= FIRST_DAY else 1
        for d in (day - timedelta(days=k) for k in range(1, LAG_DAYS + 1))
    }
    found: dict[date, int] = {}
    for start, _ in points:
        found[local_day(start, served.timezone)] = found.get(local_day(start, served.timezone), 0) + 1
    missing = sorted(d.isoformat() for d, count in expected.items() if found.get(d, 0) < count)
    since = f"; stored prices start on {local_day(first, served.timezone)}" if first is not None else ""
    return NotEnoughHistory(
        f"{served.name} v{served.version} cannot forecast {served.market} for {day}: prices missing on "
        f"{', '.join(missing) or 'the days it needs'}{since}",
        missing_days=missing,
    )


async def _after_latest(
    *, session: AsyncSession, served: ServedModel, day: date, now: datetime
) -> ForecastDayOutOfRange | None:
    """The refusal of a day past the reach of a day-ahead forecast from the latest stored prices, else None."""
    last = await session.scalar(select(func.max(Price.delivery_start)).where(*_stored_range(served, now)))
    if last is None or day <= local_day(last, served.timezone) + timedelta(days=1):
        return None
    latest = local_day(last, served.timezone)
    detail = (
        f"the latest {served.market} prices are for {latest}; a day-ahead forecast reaches {latest + timedelta(1)}"
        f" at most, not {day}"
    )
    return ForecastDayOutOfRange(
        detail,
        errors=[{"pointer": "/day", "code": "out_of_range", "detail": detail}],
        latest_price_day=latest.isoformat(),
    )


def _stored_range(served: ServedModel, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The conditions of the model's market and resolution on plausible delivery starts (see plausible_delivery)."""
    return (
        Price.market == served.market,
        Price.resolution_minutes == served.resolution_minutes,
        price_service.plausible_delivery(now=now),
    )
