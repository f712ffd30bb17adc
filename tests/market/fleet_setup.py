"""A market with prices and a promoted naive model, and batteries tagged into its fleet, for fleet-run tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.auth.schemas import SYSTEM
from gridpilot.config import Settings
from gridpilot.db import Base, create_engine, create_session_factory
from gridpilot.fleet import service as device_service
from gridpilot.fleet.schemas import DeviceIn
from gridpilot.market import fleet_jobs, registry
from gridpilot.market.fleet_solvers import InProcessSolver
from gridpilot.market.flows import FleetRun
from gridpilot.market.serving import ModelCache
from gridpilot.models import import_all_models
from tests.market.factories import hourly_points, store_points

TZ = "Europe/Oslo"
FIRST = date(2024, 9, 9)
DAYS = 56  # prices through 3 November 2024
DAY = FIRST + timedelta(days=DAYS)  # 4 November: the day planned
NOW = datetime(2024, 11, 3, 10, 0, tzinfo=UTC)
SOLVER = InProcessSolver(jobs=1, chunk_size=2)  # small chunks: several per test


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The test's database (PostgreSQL emptied first) as a session factory."""
    engine = create_engine(settings)
    if settings.database_url:
        import_all_models()
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def seed_market(
    session: AsyncSession,
    settings: Settings,
    *,
    first: date = FIRST,
    days: int = DAYS,
    now: datetime = NOW,
    market: str = "NP",
    model: bool = True,
) -> None:
    """The market's hourly prices (a weekly pattern) and, with model, a promoted naive-weekly model."""
    await store_points(session, market, TZ, hourly_points(first, days, TZ), now=now)
    if model:
        request = registry.TrainingRequest(market=market, model_name="naive-weekly", options={}, holdout_days=2)
        await registry.train(session=session, settings=settings, request=request, now=now, promote=True)


async def add_device(
    session: AsyncSession,
    device_id: str,
    *,
    soc: float | None = 50.0,
    soc_at: datetime = NOW,
    tags: tuple[str, ...] = ("market:NP",),
    capacity_kwh: float = 10.0,
    power_kw: float = 5.0,
) -> None:
    """A battery (10–90 % SoC, 95 %/95 %) with a reported SoC."""
    device_in = DeviceIn(
        id=device_id,
        name=device_id,
        capacity_kwh=capacity_kwh,
        max_charge_kw=power_kw,
        max_discharge_kw=power_kw,
        tags=list(tags),
    )
    device, _ = await device_service.register(session=session, device_in=device_in, actor=SYSTEM, now=NOW)
    if soc is not None:
        device.last_soc_pct, device.last_soc_at = soc, soc_at
    await session.flush()


async def set_soc(session: AsyncSession, device_id: str, soc: float, at: datetime) -> None:
    """Record a SoC reading as the ack path would."""
    device = await device_service.get(session=session, device_id=device_id)
    device.last_soc_pct, device.last_soc_at = soc, at
    await session.flush()


def cache() -> ModelCache:
    """A fresh model cache (what a server process keeps)."""
    return ModelCache()


async def plan(factory: async_sessionmaker[AsyncSession], settings: Settings, **overrides: object) -> FleetRun:
    """fleet_jobs.plan_day of NP for DAY at NOW, with the test fleet's cache and solver; overrides replace any of it."""
    arguments: dict[str, object] = {
        "session_factory": factory,
        "settings": settings,
        "cache": cache(),
        "solver": SOLVER,
        "publisher": None,
        "market": "NP",
        "day": DAY,
        "now": NOW,
        **overrides,
    }
    return await fleet_jobs.plan_day(**arguments)  # type: ignore[arg-type]


async def correct(factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime) -> FleetRun:
    """fleet_jobs.correct_drift of NP at `now`, with the test fleet's cache and solver."""
    return await fleet_jobs.correct_drift(
        session_factory=factory, settings=settings, cache=cache(), solver=SOLVER, publisher=None, market="NP", now=now
    )
