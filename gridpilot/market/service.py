"""Markets and their prices: idempotent upserts that count what changed, and reads of a market's range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.market.exceptions import PricesRejected, UnknownMarket
from gridpilot.market.imports.batch import PriceBatch, PricePoint
from gridpilot.market.models import Market, Price
from gridpilot.market.schemas import PriceBatchIn

_CHUNK = 1000  # 10 parameters a row stays far below SQLite's and asyncpg's limits
EARLIEST_DELIVERY = datetime(2000, 1, 1, tzinfo=UTC)  # an older delivery start is a typo or an epoch mix-up
DELIVERY_HORIZON = timedelta(days=5 * 366)  # the latest delivery start stored: five years after now (forward prices)
_EPOCH = EARLIEST_DELIVERY
_QUARTER_HOUR = timedelta(minutes=15)
DEFAULT_CURRENCY = "EUR"  # of a new market's prices when the batch names none


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """How stored prices changed: new periods, changed prices, and prices already stored as given."""

    new: int
    changed: int
    unchanged: int


async def get_market(*, session: AsyncSession, code: str) -> Market:
    """The market, or UnknownMarket."""
    market = await session.get(Market, code)
    if market is None:
        raise UnknownMarket(f"no market {code!r}: import its prices first")
    return market


async def find_market(*, session: AsyncSession, code: str) -> Market | None:
    """The market, or None when it was never imported."""
    return await session.get(Market, code)


async def ensure_market(*, session: AsyncSession, code: str, timezone: str, now: datetime) -> tuple[Market, bool]:
    """The market, registered with `timezone` when it is new; True when it was created."""
    market = await session.get(Market, code)
    if market is not None:
        return market, False
    market = Market(code=code, timezone=timezone, created_at=now)
    session.add(market)
    await session.flush()
    return market, True


async def list_markets(*, session: AsyncSession) -> list[Market]:
    """Every market by code."""
    return list(await session.scalars(select(Market).order_by(Market.code)))


def delivery_start_problem(start: datetime, *, now: datetime) -> str | None:
    """Why a delivery start is not plausible (before 2000, or more than five years after now), else None."""
    if start < EARLIEST_DELIVERY:
        return f"{start.isoformat()} is before {EARLIEST_DELIVERY.date()}, the earliest delivery start stored"
    latest = now + DELIVERY_HORIZON
    if start > latest:
        return f"{start.isoformat()} is more than five years ahead: none after {latest.isoformat()} is stored"
    return None


def plausible_delivery(*, now: datetime) -> ColumnElement[bool]:
    """The stored prices whose delivery start the imports would accept today.

    Older versions stored any start (e.g. a year-9999 typo); reads of a market's range of prices use this
    so that such a row cannot stretch a training window or become the "latest price day".
    """
    return Price.delivery_start.between(EARLIEST_DELIVERY, now + DELIVERY_HORIZON)


def market_conflicts(
    market: Market,
    stored: tuple[str, str] | None,
    *,
    timezone: str | None = None,
    currency: str | None = None,
    unit: str | None = None,
) -> list[dict[str, str]]:
    """What a batch says that contradicts the market: its zone, or the currency and unit of its `stored` prices."""
    errors: list[dict[str, str]] = []
    if timezone is not None and timezone != market.timezone:
        detail = f"market {market.code}'s time zone is {market.timezone}, not {timezone}"
        errors.append({"pointer": "/timezone", "code": "conflict", "detail": detail})
    if stored is not None:
        if currency is not None and currency != stored[0]:
            detail = f"market {market.code}'s prices are in {stored[0]}, not {currency}"
            errors.append({"pointer": "/currency", "code": "conflict", "detail": detail})
        elif unit is not None and unit != stored[1]:
            detail = f"market {market.code}'s prices are in {stored[1]}, not {unit}"
            errors.append({"pointer": "/unit", "code": "conflict", "detail": detail})
    return errors


async def stored_denomination(*, session: AsyncSession, market: str) -> tuple[str, str] | None:
    """The currency and unit of the market's latest stored price, or None before its first price."""
    query = (
        select(Price.currency, Price.unit).where(Price.market == market).order_by(Price.delivery_start.desc()).limit(1)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def upsert_prices(
    *, session: AsyncSession, market: str, batch: PriceBatch, points: Sequence[PricePoint], now: datetime
) -> UpsertResult:
    """Store the points (one per delivery period): new ones inserted, changed ones updated, the rest left alone.

    Callers screen delivery starts with delivery_start_problem first; one still implausible refuses them all.
    """
    implausible = [
        {"code": "out_of_range", "detail": f"{batch.position} {p.line}: {problem}"}
        for p in points
        if (problem := delivery_start_problem(p.delivery_start, now=now)) is not None
    ]
    if implausible:
        raise PricesRejected(
            f"{len(implausible)} implausible delivery start(s); nothing was stored", errors=implausible
        )
    stored = await actual_prices(
        session=session,
        market=market,
        resolution_minutes=batch.resolution_minutes,
        starts=[p.delivery_start for p in points],
    )
    known_at = batch.known_at or now
    rows: list[dict[str, object]] = []
    new = changed = 0
    for point in points:
        previous = stored.get(point.delivery_start)
        if previous is not None and previous == point.price:
            continue
        new += previous is None
        changed += previous is not None
        rows.append(
            {
                "market": market,
                "delivery_start": point.delivery_start,
                "resolution_minutes": batch.resolution_minutes,
                "price": point.price,
                "currency": batch.currency,
                "unit": batch.unit,
                "source": batch.source,
                "known_at": known_at,
                "imported_at": now,
            }
        )
    await _write(session=session, rows=rows)
    await session.flush()
    return UpsertResult(new=new, changed=changed, unchanged=len(points) - new - changed)


async def _write(*, session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Insert-or-update the rows by their key, in chunks."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Price)
    upsert = statement.on_conflict_do_update(
        index_elements=["market", "delivery_start", "resolution_minutes"],
        set_={
            name: statement.excluded[name]
            for name in ("price", "currency", "unit", "source", "known_at", "imported_at")
        },
    )
    for i in range(0, len(rows), _CHUNK):
        await session.execute(upsert, rows[i : i + _CHUNK])


async def read_prices(
    *, session: AsyncSession, market: str, start: datetime, end: datetime, resolution_minutes: int | None = None
) -> list[Price]:
    """The market's prices with start <= delivery start < end, in time order."""
    query = (
        select(Price)
        .where(Price.market == market, Price.delivery_start >= start, Price.delivery_start < end)
        .order_by(Price.delivery_start, Price.resolution_minutes)
    )
    if resolution_minutes is not None:
        query = query.where(Price.resolution_minutes == resolution_minutes)
    return list(await session.scalars(query))


async def price_points(
    *, session: AsyncSession, market: str, start: datetime, end: datetime, resolution_minutes: int
) -> list[tuple[datetime, float]]:
    """(delivery start, price) pairs of one resolution in time order: the light read models train and predict on."""
    query = (
        select(Price.delivery_start, Price.price)
        .where(
            Price.market == market,
            Price.resolution_minutes == resolution_minutes,
            Price.delivery_start >= start,
            Price.delivery_start < end,
        )
        .order_by(Price.delivery_start)
    )
    return [(row[0], row[1]) for row in await session.execute(query)]


async def actual_prices(
    *, session: AsyncSession, market: str, resolution_minutes: int, starts: Sequence[datetime]
) -> dict[datetime, float]:
    """Stored prices of the given delivery periods (absent ones are simply missing)."""
    found: dict[datetime, float] = {}
    keys = list(starts)
    for i in range(0, len(keys), _CHUNK):
        query = select(Price.delivery_start, Price.price).where(
            Price.market == market,
            Price.resolution_minutes == resolution_minutes,
            Price.delivery_start.in_(keys[i : i + _CHUNK]),
        )
        for start, price in await session.execute(query):
            found[start] = price
    return found


async def record_batch(*, session: AsyncSession, batch_in: PriceBatchIn, now: datetime) -> UpsertResult:
    """Store an API batch whole or not at all: every refused row is listed with its JSON pointer."""
    errors = _batch_errors(batch_in, now=now)
    market = await session.get(Market, batch_in.market)
    stored = None
    if market is None and batch_in.timezone is None:
        errors.append({"pointer": "/timezone", "code": "required", "detail": f"market {batch_in.market!r} is new"})
    if market is not None:
        stored = await stored_denomination(session=session, market=market.code)
        errors += market_conflicts(
            market, stored, timezone=batch_in.timezone, currency=batch_in.currency, unit=batch_in.unit
        )
    if errors:
        raise PricesRejected(f"{len(errors)} problem(s) in the batch; nothing was stored", errors=errors)
    if market is None:
        await ensure_market(session=session, code=batch_in.market, timezone=str(batch_in.timezone), now=now)
    currency = batch_in.currency or (stored[0] if stored else DEFAULT_CURRENCY)
    batch = PriceBatch(
        source=batch_in.source,
        resolution_minutes=batch_in.resolution_minutes,
        currency=currency,
        unit=batch_in.unit or (stored[1] if stored else f"{currency}/MWh"),
        known_at=batch_in.known_at,
    )
    points = [PricePoint(p.delivery_start, p.price, i) for i, p in enumerate(batch_in.prices)]
    return await upsert_prices(session=session, market=batch_in.market, batch=batch, points=points, now=now)


def _batch_errors(batch_in: PriceBatchIn, *, now: datetime) -> list[dict[str, str]]:
    """Violations a schema cannot see: an unknown zone, an implausible start, a period twice, a start off the grid."""
    errors: list[dict[str, str]] = []
    if batch_in.timezone is not None:
        try:
            ZoneInfo(batch_in.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append({"pointer": "/timezone", "code": "unknown_zone", "detail": "not an IANA time zone"})
    first_index: dict[datetime, int] = {}
    step = timedelta(minutes=batch_in.resolution_minutes)
    for index, price in enumerate(batch_in.prices):
        pointer = f"/prices/{index}/delivery_start"
        problem = delivery_start_problem(price.delivery_start, now=now)
        if problem is not None:
            errors.append({"pointer": pointer, "code": "out_of_range", "detail": problem})
            continue
        if price.delivery_start in first_index:
            detail = f"the same delivery start as /prices/{first_index[price.delivery_start]}"
            errors.append({"pointer": pointer, "code": "duplicate", "detail": detail})
            continue
        first_index[price.delivery_start] = index
        if not _QUARTER_HOUR % step and (price.delivery_start - _EPOCH) % step:  # every zone offset is whole quarters
            detail = f"not on the {batch_in.resolution_minutes}-minute grid"
            errors.append({"pointer": pointer, "code": "off_grid", "detail": detail})
    return errors
