"""Stored prices as the Series the forecasting models take: delivery starts in the market's own time zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from gridpilot.market.exceptions import ForecastDayOutOfRange

FIRST_DAY = date(2000, 1, 1)  # no price gridpilot stores is older (service.EARLIEST_DELIVERY)
LAST_DAY = date(2999, 12, 31)  # beyond any forecast, and far enough from date.max for every day's arithmetic


def price_series(points: Sequence[tuple[datetime, float]], timezone: str) -> pd.Series:
    """(UTC delivery start, price) pairs as a float Series on a DatetimeIndex in `timezone`."""
    index = pd.DatetimeIndex([start for start, _ in points], name="delivery_start")
    if index.tz is None:
        index = index.tz_localize("UTC")
    return pd.Series([price for _, price in points], index=index.tz_convert(timezone), dtype="float64", name="price")


def check_day(day: date) -> date:
    """The day itself when gridpilot handles it (FIRST_DAY to LAST_DAY), else ForecastDayOutOfRange (422)."""
    if day < FIRST_DAY:
        raise ForecastDayOutOfRange(f"{day} is before {FIRST_DAY}, the first delivery day gridpilot handles")
    if day > LAST_DAY:
        raise ForecastDayOutOfRange(f"{day} is after {LAST_DAY}, the last delivery day gridpilot handles")
    return day


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants a local delivery day starts and ends (23, 24 or 25 hours apart); see check_day."""
    check_day(day)
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def day_periods(day: date, timezone: str, resolution_minutes: int) -> list[datetime]:
    """Every delivery start of a local day, in UTC."""
    start, end = day_bounds(day, timezone)
    step = timedelta(minutes=resolution_minutes)
    count = (end - start) // step
    return [start + i * step for i in range(count)]


def local_day(instant: datetime, timezone: str) -> date:
    """The market's delivery day an instant falls in."""
    return instant.astimezone(ZoneInfo(timezone)).date()
