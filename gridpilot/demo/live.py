"""What the fleet executes now: an optimized plan laid onto the next minutes, so that acks arrive at once.

- speed 1: the rest of today, optimized from each battery's reported SoC on today's prices, from the
  current hour to midnight;
- speed S > 1: tomorrow's plan (the one just bid on the day-ahead market) replayed from now, each hour
  lasting 60/S minutes at the planned power.

Either way the plan is laid from its first action on (a quiet night before it is skipped), its first
minutes are cut into 15-second intervals (same mode and power) so that acknowledgements arrive within
seconds, and the schedules go through the fleet's validation like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.auth.schemas import Actor, Role
from gridpilot.config import Settings
from gridpilot.demo import timeline
from gridpilot.demo.market import MARKET, TIMEZONE
from gridpilot.fleet import distribution
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet.exceptions import ScheduleRejected
from gridpilot.market import flows
from gridpilot.market import service as price_service
from gridpilot.market.dispatch import to_schedule
from gridpilot.market.fleet_plans import FleetDevice
from gridpilot.market.fleet_solvers import InProcessSolver
from gridpilot.market.series import day_bounds, day_periods
from gridpilot.protocol import Interval, Mode, Schedule

DEMO = Actor(kind="system", id="demo", name="demo", role=Role.ADMIN)
SOURCE = "demo"
QUICK_WITHIN = timedelta(minutes=3)
QUICK_PIECE = timedelta(seconds=15)
CHECK_IN = timedelta(seconds=10)

Factory = async_sessionmaker[AsyncSession]


@dataclass
class LivePlan:
    """What was laid onto the clock: from when to when, for how many devices, and what the fleet refused."""

    description: str
    start: datetime
    end: datetime
    devices: int = 0
    refused: dict[str, str] = field(default_factory=dict)


async def fleet(factory: Factory, *, settings: Settings, now: datetime) -> tuple[list[FleetDevice], list[str]]:
    """The market's devices that have reported a SoC (the optimizer's starting point), and those that have not."""
    async with factory() as session:
        report = flows.FleetRun(market=MARKET, day=now.date())
        found = await flows.fleet_devices(session=session, settings=settings, market=MARKET, now=now, report=report)
    return found, sorted(report.skipped)


async def check_in(
    factory: Factory,
    *,
    settings: Settings,
    device_ids: list[str],
    t0: datetime,
    now: datetime,
    publisher: distribution.ViewPublisher | None = None,
) -> dict[str, str]:
    """A 10-second charge at 0.5 kW for devices that never reported a SoC: its ack tells the fleet their SoC.

    The fleet learns a battery's SoC from its acknowledgements, and the optimizer needs it as the starting
    point, so a brand-new fleet executes this one short interval before it can be planned.
    """
    interval = [Interval(t0, t0 + CHECK_IN, Mode.CHARGE, 0.5)]
    raws = dict.fromkeys(device_ids, interval)
    return await _submit(factory, settings=settings, raws=raws, t0=t0, now=now, publisher=publisher)


async def start(
    factory: Factory,
    *,
    settings: Settings,
    speed: float,
    today: date,
    t0: datetime,
    now: datetime,
    publisher: distribution.ViewPublisher | None = None,
) -> LivePlan:
    """Store each device's live schedule from t0 (a new version replacing what it held from then on).

    The plan's idle stretch before the fleet's first action (a quiet night, say) is skipped: the first
    action starts at t0, so that something happens at once.
    """
    devices, _ = await fleet(factory, settings=settings, now=now)
    tomorrow_start, tomorrow_end = day_bounds(today + timedelta(days=1), TIMEZONE)
    if speed == 1:
        planned = await _rest_of_today(factory, settings=settings, devices=devices, today=today, now=now)
        window_end, what = tomorrow_start, "the rest of today's plan, in real time"
    else:
        planned = await _tomorrow(factory, devices=devices, now=now, bounds=(tomorrow_start, tomorrow_end))
        window_end = tomorrow_end
        what = f"tomorrow's plan replayed at {speed:g}x (a market hour every {60 / speed:g} min)"
    starts = [intervals[0].start for intervals in planned.values() if intervals]
    if not starts:
        return LivePlan(f"{what}: every battery is idle", t0, t0)
    window_start = min(starts)
    plan = LivePlan(
        f"{what}, from its first action ({window_start:%H:%M} UTC) on", t0, t0 + (window_end - window_start) / speed
    )
    live = {
        device_id: timeline.quicken(
            timeline.compress(intervals, day_start=window_start, t0=t0, speed=speed),
            now=t0,
            within=QUICK_WITHIN,
            piece=QUICK_PIECE,
        )
        for device_id, intervals in planned.items()
        if intervals
    }
    later = await _held_after(factory, device_ids=list(live), after=plan.end, now=now)
    raws = {device_id: intervals + later.get(device_id, []) for device_id, intervals in live.items()}
    plan.refused = await _submit(factory, settings=settings, raws=raws, t0=t0, now=now, publisher=publisher)
    retry = {d: live[d] for d in plan.refused if later.get(d)}  # what tomorrow carries may not fit: drop it
    if retry:
        for device_id in retry:
            plan.refused.pop(device_id)
        plan.refused.update(await _submit(factory, settings=settings, raws=retry, t0=t0, now=now, publisher=publisher))
    plan.devices = len(raws) - len(plan.refused)
    return plan


async def _rest_of_today(
    factory: Factory, *, settings: Settings, devices: list[FleetDevice], today: date, now: datetime
) -> dict[str, list[Interval]]:
    """Each device's optimal plan from the current hour to midnight, on today's prices, from its SoC."""
    periods = [p for p in day_periods(today, TIMEZONE, 60) if p + timedelta(hours=1) > now]
    async with factory() as session:
        stored = await price_service.actual_prices(
            session=session, market=MARKET, resolution_minutes=60, starts=periods
        )
    periods = [p for p in periods if p in stored]
    if not periods or not devices:
        return {}
    plans = await flows.solve_plans(
        InProcessSolver(jobs=1),
        devices,
        [stored[p] for p in periods],
        step_minutes=60,
        settings=settings,
        progress=None,
    )
    out: dict[str, list[Interval]] = {}
    for device, dispatch in zip(devices, plans, strict=True):
        schedule = to_schedule(dispatch, battery=device.battery, device_id=device.id, start=periods[0])
        out[device.id] = list(schedule.intervals) if schedule is not None else []
    return out


async def _tomorrow(
    factory: Factory, *, devices: list[FleetDevice], now: datetime, bounds: tuple[datetime, datetime]
) -> dict[str, list[Interval]]:
    """Each device's stored plan of tomorrow (the optimizer's, after the bids)."""
    async with factory() as session:
        views = await schedule_service.device_views(session=session, device_ids=[d.id for d in devices], now=now)
    return {
        view.device_id: [
            Interval(i.start, i.end, Mode(i.mode), i.rate_kw)
            for i in view.intervals
            if bounds[0] <= i.start < bounds[1]
        ]
        for view in views
    }


async def _held_after(
    factory: Factory, *, device_ids: list[str], after: datetime, now: datetime
) -> dict[str, list[Interval]]:
    """What each device holds from `after` on (tomorrow's plan at speed 1), carried into its new version."""
    async with factory() as session:
        views = await schedule_service.device_views(session=session, device_ids=device_ids, now=now)
    return {
        v.device_id: [Interval(i.start, i.end, Mode(i.mode), i.rate_kw) for i in v.intervals if i.start >= after]
        for v in views
    }


async def _submit(
    factory: Factory,
    *,
    settings: Settings,
    raws: dict[str, list[Interval]],
    t0: datetime,
    now: datetime,
    publisher: distribution.ViewPublisher | None,
) -> dict[str, str]:
    """Store the schedules as one batch (each device on its own: partial), push them; returns the refused ones."""
    if not raws:
        return {}
    order = list(raws)
    async with factory() as session:
        try:
            result = await schedule_service.submit(
                session=session,
                raws=[Schedule(d, tuple(raws[d])).to_json() for d in order],
                actor=DEMO,
                now=now,
                policy=schedule_service.schedule_policy(settings),
                batch=True,
                partial=True,
                source=SOURCE,
                replace_from=t0,
            )
        except ScheduleRejected as exc:
            return dict.fromkeys(order, exc.detail)
        await session.commit()
    if publisher is not None and result.accepted:  # without a broker (or missed by it) the devices poll
        await distribution.push_views(
            session_factory=factory, publisher=publisher, device_ids=[a.device_id for a in result.accepted], now=now
        )
    return {order[r.index]: "; ".join(e["detail"] for e in r.errors) for r in result.rejected}
