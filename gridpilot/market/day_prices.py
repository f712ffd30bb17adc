"""The prices a fleet run plans a day on: the day's cleared prices once all are stored, else the forecast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.config import Settings
from gridpilot.market import registry, serving
from gridpilot.market import service as price_service
from gridpilot.market.series import day_periods

DEFAULT_RESOLUTION_MINUTES = 60  # the resolution of actual prices looked for when the market has no model


@dataclass(frozen=True, slots=True)
class DayPrices:
    """One price per delivery period of a market day, and where they came from."""

    market: str
    day: date
    timezone: str
    resolution_minutes: int
    starts: list[datetime]
    prices: list[float]
    source: str  # "actual" or "forecast"
    model: str | None  # "name vN" of the forecasting model, None for actual prices
    issued_at: datetime | None  # when the forecast was made, None for actual prices


async def day_prices(
    *, session: AsyncSession, settings: Settings, cache: serving.ModelCache, market: str, day: date, now: datetime
) -> DayPrices:
    """Cleared prices when every period of the day is stored (no forecast beats them), else the current forecast.

    Raises what forecasting raises (UnknownMarket, NoCurrentModel, NotEnoughHistory, ...) when neither exists.
    """
    found = await price_service.get_market(session=session, code=market)
    record = await registry.current(session=session, market=market)
    resolution = record.resolution_minutes if record is not None else DEFAULT_RESOLUTION_MINUTES
    starts = day_periods(day, found.timezone, resolution)
    stored = await price_service.actual_prices(
        session=session, market=market, resolution_minutes=resolution, starts=starts
    )
    if len(stored) == len(starts):
        return DayPrices(
            market, day, found.timezone, resolution, starts, [stored[s] for s in starts], "actual", None, None
        )
    forecast = await serving.forecast(session=session, settings=settings, cache=cache, market=market, day=day, now=now)
    return DayPrices(
        market,
        day,
        forecast.timezone,
        forecast.resolution_minutes,
        [p.delivery_start for p in forecast.points],
        [p.price for p in forecast.points],
        "forecast",
        f"{forecast.model_name} v{forecast.model_version}",
        forecast.issued_at,
    )
