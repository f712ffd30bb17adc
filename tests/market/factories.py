"""Builders of price series, CSV files and stored prices for market tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.market.importing import ImportReport, import_batch
from gridpilot.market.imports.batch import PriceBatch, PricePoint
from gridpilot.market.models import ForecastModel, ForecastPrediction


def weekly_price(instant: datetime, timezone: str) -> float:
    """A price that repeats every week in local time: hour of day plus a weekday step."""
    local = instant.astimezone(ZoneInfo(timezone))
    return 30.0 + local.hour + 2.5 * local.weekday()


def hourly_points(first_day: date, days: int, timezone: str) -> list[tuple[datetime, float]]:
    """Every real hour of `days` local days (23 or 25 on DST days), priced by weekly_price."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(first_day + timedelta(days=days), datetime.min.time(), tzinfo=zone).astimezone(UTC)
    points = []
    at = start
    while at < end:
        points.append((at, weekly_price(at, timezone)))
        at += timedelta(hours=1)
    return points


async def store_points(
    session: AsyncSession, market: str, timezone: str, points: list[tuple[datetime, float]], *, now: datetime
) -> ImportReport:
    """Store (UTC start, price) pairs for a market as one import, registering the market if new."""
    batch = PriceBatch(source="test", resolution_minutes=60, currency="EUR", unit="EUR/MWh")
    batch.points = [PricePoint(start, price, i) for i, (start, price) in enumerate(points)]
    batch.rows_read = len(points)
    return await import_batch(session=session, market=market, timezone=timezone, batch=batch, now=now)


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = ",Real price") -> Path:
    """A CSV file with a header and (timestamp, price) rows, as the EPF files have them."""
    path.write_text(header + "\n" + "".join(f"{ts},{price}\n" for ts, price in rows))
    return path


async def log_forecasts(
    session: AsyncSession, market: str, predictions: list[tuple[datetime, float, datetime]], *, promoted_at: datetime
) -> None:
    """A placeholder hourly model (no artifact) and its logged (delivery start, price, issued at) predictions."""
    first = predictions[0][0]
    model = ForecastModel(
        market=market,
        name="test",
        version=1,
        options={},
        features=[],
        metrics={},
        resolution_minutes=60,
        unit="EUR/MWh",
        timezone="UTC",
        train_start=first,
        train_end=first,
        gridpilot_version="test",
        artifact_path="-",
        promoted_at=promoted_at,
    )
    session.add(model)
    await session.flush()
    session.add_all(
        ForecastPrediction(
            model_id=model.id,
            market=market,
            delivery_start=start,
            resolution_minutes=60,
            price=price,
            issued_at=issued_at,
        )
        for start, price, issued_at in predictions
    )
