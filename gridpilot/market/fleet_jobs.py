"""Fleet runs as one unit of work each: run the flow, commit, then push the new schedules to the devices."""

from __future__ import annotations

from datetime import date, datetime
from time import perf_counter

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.config import Settings
from gridpilot.fleet import distribution
from gridpilot.market import drift, flows
from gridpilot.market.fleet_solvers import PlanSolver
from gridpilot.market.serving import ModelCache


async def plan_day(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    cache: ModelCache,
    solver: PlanSolver,
    publisher: distribution.ViewPublisher | None,
    market: str,
    day: date,
    now: datetime,
    dry_run: bool = False,
    progress: flows.StageProgress | None = None,
) -> flows.FleetRun:
    """optimize_fleet in its own transaction (rolled back with dry_run), then the push of what it stored."""
    async with session_factory() as session:
        report = await flows.optimize_fleet(
            session=session,
            settings=settings,
            cache=cache,
            solver=solver,
            market=market,
            day=day,
            now=now,
            dry_run=dry_run,
            progress=progress,
        )
        await (session.rollback() if dry_run else session.commit())
    await _push(session_factory, publisher, report, now=now, dry_run=dry_run)
    return report


async def correct_drift(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    cache: ModelCache,
    solver: PlanSolver,
    publisher: distribution.ViewPublisher | None,
    market: str,
    now: datetime,
    threshold_pct: float | None = None,
    dry_run: bool = False,
    progress: flows.StageProgress | None = None,
) -> flows.FleetRun:
    """reoptimize_drift in its own transaction (rolled back with dry_run), then the push of what it stored."""
    async with session_factory() as session:
        report = await drift.reoptimize_drift(
            session=session,
            settings=settings,
            cache=cache,
            solver=solver,
            market=market,
            now=now,
            threshold_pct=threshold_pct,
            dry_run=dry_run,
            progress=progress,
        )
        await (session.rollback() if dry_run else session.commit())
    await _push(session_factory, publisher, report, now=now, dry_run=dry_run)
    return report


async def _push(
    session_factory: async_sessionmaker[AsyncSession],
    publisher: distribution.ViewPublisher | None,
    report: flows.FleetRun,
    *,
    now: datetime,
    dry_run: bool,
) -> None:
    """Send the stored schedules down the push channel; devices without it (or missed by it) poll."""
    if publisher is None or dry_run or not report.stored:
        return
    clock = perf_counter()
    await distribution.push_views(
        session_factory=session_factory, publisher=publisher, device_ids=report.stored, now=now
    )
    report.seconds["push"] = perf_counter() - clock
