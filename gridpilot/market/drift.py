"""Intraday re-optimization (receding horizon): re-plan the rest of the day where measured SoC left the plan.

The plan's SoC at the moment of a device's last SoC reading is recomputed from its schedule (see
`fleet_plans`); when the reading is further off than the threshold, the device is re-planned from the
reading over the day's remaining periods, and the new plan replaces its intervals from the current period on.
Only plans the optimizer made are corrected: an operator's schedule is left alone.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from datetime import datetime, timedelta
from time import perf_counter

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.config import Settings
from gridpilot.fleet import schedules as schedule_service
from gridpilot.market import flows
from gridpilot.market import service as price_service
from gridpilot.market.day_prices import day_prices
from gridpilot.market.fleet_plans import FleetDevice, end_soc_pct, planned_soc_pct
from gridpilot.market.fleet_solvers import PlanSolver
from gridpilot.market.series import day_bounds, local_day
from gridpilot.market.serving import ModelCache
from gridpilot.protocol import Interval, Mode


async def reoptimize_drift(
    *,
    session: AsyncSession,
    settings: Settings,
    cache: ModelCache,
    solver: PlanSolver,
    market: str,
    now: datetime,
    threshold_pct: float | None = None,
    dry_run: bool = False,
    progress: flows.StageProgress | None = None,
) -> flows.FleetRun:
    """Re-plan today's rest for the market's devices whose SoC is more than the threshold off their plan."""
    threshold = settings.optimize_drift_threshold_pct if threshold_pct is None else threshold_pct
    found = await price_service.get_market(session=session, code=market)
    day = local_day(now, found.timezone)
    report = flows.FleetRun(market=market, day=day)
    clock = perf_counter()
    devices = await flows.fleet_devices(session=session, settings=settings, market=market, now=now, report=report)
    prices = await day_prices(session=session, settings=settings, cache=cache, market=market, day=day, now=now)
    report.prices_source, report.model = prices.source, prices.model
    current = bisect.bisect_right(prices.starts, now) - 1
    start, step = prices.starts[current], timedelta(minutes=prices.resolution_minutes)
    day_end = day_bounds(day, found.timezone)[1]
    drifting = await _drifting(
        session=session,
        settings=settings,
        devices=devices,
        now=now,
        start=start,
        step=step,
        day_end=day_end,
        next_day_end=day_bounds(day + timedelta(days=1), found.timezone)[1],
        threshold=threshold,
        report=report,
    )
    drifting = await flows.from_plan_start(session=session, devices=drifting, start=start)
    report.seconds["check"] = perf_counter() - clock
    clock = perf_counter()
    plans = await flows.solve_plans(
        solver,
        drifting,
        prices.prices[current:],
        step_minutes=prices.resolution_minutes,
        settings=settings,
        progress=progress,
    )
    report.seconds["solve"] = perf_counter() - clock
    clock = perf_counter()
    await flows.store_plans(
        session=session,
        settings=settings,
        devices=drifting,
        plans=plans,
        start=start,
        day_end=day_end,
        now=now,
        report=report,
        dry_run=dry_run,
        progress=progress,
    )
    report.seconds["store"] = perf_counter() - clock
    return report


async def _drifting(
    *,
    session: AsyncSession,
    settings: Settings,
    devices: list[FleetDevice],
    now: datetime,
    start: datetime,
    step: timedelta,
    day_end: datetime,
    next_day_end: datetime,
    threshold: float,
    report: flows.FleetRun,
) -> list[FleetDevice]:
    """The devices with a fresh SoC reading further than `threshold` from their optimizer plan.

    A plan ends its day where the next day's stored plan starts (every plan ends its own day at the
    configured end SoC, so the next day's start is that SoC less what the next day's intervals add), or
    at the end SoC when no next day is planned; a re-plan of the day's rest must end there too.
    """
    views = await schedule_service.device_views(session=session, device_ids=[d.id for d in devices], now=now)
    intervals = {v.device_id: [Interval(i.start, i.end, Mode(i.mode), i.rate_kw) for i in v.intervals] for v in views}
    candidates: list[FleetDevice] = []
    for device in devices:
        if device.soc_at < start - step:
            report.skipped[device.id] = f"its last SoC reading ({device.soc_at.isoformat()}) is too old to re-plan on"
            continue
        stored = intervals.get(device.id, [])
        limits = device.battery.limits()
        day_end_soc = end_soc_pct(device.battery, settings.optimize_end_soc_pct)
        if any(interval.start >= day_end for interval in stored):
            day_end_soc = planned_soc_pct(stored, limits=limits, at=day_end, day_end=next_day_end, end_soc=day_end_soc)
        planned = planned_soc_pct(stored, limits=limits, at=device.soc_at, day_end=day_end, end_soc=day_end_soc)
        if abs(device.soc_pct - planned) > threshold:
            report.drifted[device.id] = device.soc_pct - planned
            candidates.append(replace(device, end_soc_pct=day_end_soc))
    drifting: list[FleetDevice] = []
    for device in candidates:
        latest = await schedule_service.history(session=session, device_id=device.id, limit=1, now=now)
        if not latest or latest[0].source != flows.SOURCE:
            whose = f"from {latest[0].source!r}" if latest else "missing"
            report.skipped[device.id] = f"its plan is {whose}, not the optimizer's: left alone"
            continue
        drifting.append(device)
    return drifting
