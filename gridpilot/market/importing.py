"""One import of a source's prices: screen them, store the good ones, and report everything that was not stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.market import service as price_service
from gridpilot.market.imports.batch import Duplicate, Gap, PriceBatch, RowError, screen


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import read, stored and refused, for the operator to check."""

    market: str
    market_created: bool
    rows_read: int
    errors: list[RowError]
    duplicates: list[Duplicate]
    gaps: list[Gap]
    result: price_service.UpsertResult
    first: datetime | None
    last: datetime | None

    @property
    def missing_periods(self) -> int:
        """Delivery periods absent between the first and the last one read."""
        return sum(gap.periods for gap in self.gaps)


async def import_batch(
    *, session: AsyncSession, market: str, timezone: str, batch: PriceBatch, now: datetime
) -> ImportReport:
    """Store a batch's good points for `market` (registered with `timezone` if new); bad rows are only reported."""
    _, created = await price_service.ensure_market(session=session, code=market, timezone=timezone, now=now)
    screened = screen(batch.points, resolution_minutes=batch.resolution_minutes)
    result = await price_service.upsert_prices(
        session=session, market=market, batch=batch, points=screened.points, now=now
    )
    starts = [p.delivery_start for p in screened.points]
    return ImportReport(
        market=market,
        market_created=created,
        rows_read=batch.rows_read,
        errors=sorted([*batch.errors, *screened.errors], key=lambda e: e.line),
        duplicates=screened.duplicates,
        gaps=screened.gaps,
        result=result,
        first=min(starts, default=None),
        last=max(starts, default=None),
    )
