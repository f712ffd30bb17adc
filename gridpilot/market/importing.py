"""One import of a source's prices: screen them, store the good ones, and report everything that was not stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.market import service as price_service
from gridpilot.market.exceptions import PricesRejected
from gridpilot.market.imports.batch import Duplicate, Gap, PriceBatch, PricePoint, RowError, screen


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
    """Store a batch's good points for `market` (registered with `timezone` if new); bad rows are only reported.

    A batch in another currency or unit than the market's stored prices is refused whole (PricesRejected).
    """
    record, created = await price_service.ensure_market(session=session, code=market, timezone=timezone, now=now)
    stored = await price_service.stored_denomination(session=session, market=market)
    conflicts = price_service.market_conflicts(record, stored, currency=batch.currency, unit=batch.unit)
    if conflicts:
        raise PricesRejected(f"{conflicts[0]['detail']}; nothing was stored", errors=conflicts)
    plausible: list[PricePoint] = []
    implausible: list[RowError] = []
    for point in batch.points:
        problem = price_service.delivery_start_problem(point.delivery_start, now=now)
        if problem is None:
            plausible.append(point)
        else:
            implausible.append(RowError(point.line, problem))
    screened = screen(plausible, resolution_minutes=batch.resolution_minutes)
    result = await price_service.upsert_prices(
        session=session, market=market, batch=batch, points=screened.points, now=now
    )
    starts = [p.delivery_start for p in screened.points]
    return ImportReport(
        market=market,
        market_created=created,
        rows_read=batch.rows_read,
        errors=sorted([*batch.errors, *implausible, *screened.errors], key=lambda e: e.line),
        duplicates=screened.duplicates,
        gaps=screened.gaps,
        result=result,
        first=min(starts, default=None),
        last=max(starts, default=None),
    )
