"""Fleet optimization: a market day's prices → a plan per device of the market's fleet → schedules in the fleet.

A device belongs to market M's fleet when it is active (not decommissioned) and tagged `market:M`. Each
plan starts from the device's last reported SoC and ends the day at `fleet_plans.end_soc_pct`. The caller
owns the transaction (commit, then push the returned device ids); a re-run of the same day stores nothing
for devices whose plan did not change and replaces the whole day for those whose plan did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from time import perf_counter
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.schemas import Actor
from gridpilot.config import Settings
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as device_service
from gridpilot.fleet.exceptions import ScheduleRejected
from gridpilot.fleet.schemas import DeviceScheduleOut
from gridpilot.market import service as price_service
from gridpilot.market.day_prices import day_prices
from gridpilot.market.dispatch import Dispatch, to_schedule
from gridpilot.market.exceptions import DayNotPlannable, NoFleetDevices
from gridpilot.market.fleet_plans import FleetDevice, battery_of, market_tag, problem_for
from gridpilot.market.fleet_solvers import PlanSolver
from gridpilot.market.series import day_bounds
from gridpilot.market.serving import ModelCache
from gridpilot.protocol import Interval, Mode, Schedule, SchedulePolicy, newest_soc
from gridpilot.telemetry import service as telemetry_service

OPTIMIZER = Actor(kind="system", id="optimizer", name="optimizer")
SOURCE = "optimizer"  # the `source` of every schedule a fleet run stores
_PAGE = 1000

StageProgress = Callable[[str, int, int], None]
"""Called with (stage, done, total) as a run advances: stages 'devices', 'prices', 'solve', 'store'."""


@dataclass
class FleetRun:
    """What a fleet run did, device by device in summary, and how long each stage took (seconds)."""

    market: str
    day: date
    prices_source: str = ""
    model: str | None = None
    devices: int = 0
    stored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    idle: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # of the skipped: those whose schedule the fleet refused
    warnings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    drifted: dict[str, float] = field(default_factory=dict)  # measured minus planned SoC (drift runs)
    objective: float = 0.0  # the expected cost of the plans stored (or that would be), unchanged and idle
    seconds: dict[str, float] = field(default_factory=dict)


async def optimize_fleet(
    *,
    session: AsyncSession,
    settings: Settings,
    cache: ModelCache,
    solver: PlanSolver,
    market: str,
    day: date,
    now: datetime,
    dry_run: bool = False,
    progress: StageProgress | None = None,
) -> FleetRun:
    """Plan `day` for every device of the market's fleet and store the schedules (none with dry_run)."""
    report = FleetRun(market=market, day=day)
    clock = perf_counter()
    found = await price_service.get_market(session=session, code=market)
    check_plannable(
        market=market,
        day=day,
        timezone=found.timezone,
        now=now,
        max_horizon=schedule_service.schedule_policy(settings).max_horizon,
    )
    devices = await fleet_devices(session=session, settings=settings, market=market, now=now, report=report)
    _advance(progress, "devices", report.devices, report.devices)
    report.seconds["devices"] = perf_counter() - clock
    clock = perf_counter()
    prices = await day_prices(session=session, settings=settings, cache=cache, market=market, day=day, now=now)
    report.prices_source, report.model = prices.source, prices.model
    devices = await from_plan_start(session=session, devices=devices, start=prices.starts[0])
    _advance(progress, "prices", 1, 1)
    report.seconds["prices"] = perf_counter() - clock
    clock = perf_counter()
    plans = await solve_plans(
        solver, devices, prices.prices, step_minutes=prices.resolution_minutes, settings=settings, progress=progress
    )
    report.seconds["solve"] = perf_counter() - clock
    clock = perf_counter()
    await store_plans(
        session=session,
        settings=settings,
        devices=devices,
        plans=plans,
        start=prices.starts[0],
        day_end=day_bounds(day, prices.timezone)[1],
        now=now,
        report=report,
        dry_run=dry_run,
        progress=progress,
    )
    report.seconds["store"] = perf_counter() - clock
    return report


def check_plannable(*, market: str, day: date, timezone: str, now: datetime, max_horizon: timedelta) -> None:
    """Refuse a day whose schedules the fleet would refuse for their timing, before anything is optimized.

    A day's plan runs from the day's start to its end, and the fleet accepts intervals only between now and
    now + max_horizon (the fleet's schedule policy): a day that has begun or ends beyond that has no plan.
    The refusal's `reason` is 'over', 'today' or 'beyond_horizon'.
    """
    start, end = day_bounds(day, timezone)
    if end <= now:
        raise DayNotPlannable(
            f"{day} is over in market {market} ({timezone}): schedules for it would lie in the past; "
            "plan a day that has not begun yet",
            reason="over",
        )
    if start < now:
        raise DayNotPlannable(
            f"{day} has already begun in market {market} ({timezone}): a plan for the whole day would start "
            "in the past; re-plan the rest of today with the drift correction instead",
            reason="today",
        )
    if end > now + max_horizon:
        raise DayNotPlannable(
            f"{day} ends at {end.isoformat()}, more than the schedule horizon of {_days(max_horizon)} ahead "
            f"(GRIDPILOT_SCHEDULE_MAX_HORIZON_DAYS): the fleet would refuse its schedules; plan it from "
            f"{(end - max_horizon).isoformat()} on",
            reason="beyond_horizon",
        )


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day{'s' if days != 1 else ''}"


async def fleet_devices(
    *, session: AsyncSession, settings: Settings, market: str, now: datetime, report: FleetRun
) -> list[FleetDevice]:
    """The market's fleet with a reported SoC; the others go to report.skipped with the reason."""
    liveness = device_service.liveness(settings)
    found: list[FleetDevice] = []
    after: str | None = None
    while True:
        page = await device_service.list_devices(
            session=session, now=now, liveness=liveness, limit=_PAGE, after_id=after, tag=market_tag(market)
        )
        measured = await telemetry_service.latest_soc(session=session, device_ids=[device.id for device in page])
        for device in page:
            report.devices += 1
            soc = newest_soc(device.last_soc_pct, device.last_soc_at, measured.get(device.id))
            if soc is None:
                report.skipped[device.id] = "no SoC reported yet: the plan needs a starting point"
                continue
            try:
                battery = battery_of(
                    device_service.battery_limits(device),
                    degradation_cost_per_mwh=settings.optimize_degradation_cost_per_mwh,
                )
            except ValueError as exc:
                report.skipped[device.id] = f"limits the optimizer cannot use: {exc}"
                continue
            found.append(FleetDevice(device.id, battery, *soc))
        if len(page) < _PAGE:
            break
        after = page[-1].id
    if report.devices == 0:
        raise NoFleetDevices(
            f"no active device is tagged {market_tag(market)!r}: tag the devices of market {market} with it "
            f"(PATCH /api/v1/devices/{{id}} with tags)"
        )
    return found


async def from_plan_start(
    *, session: AsyncSession, devices: Sequence[FleetDevice], start: datetime
) -> list[FleetDevice]:
    """The devices with the SoC their plan starts from: the reading run on through their stored plan to `start`.

    The fleet checks a new schedule from the same expected SoC, so a plan for tomorrow made today starts
    where today's plan leaves the battery, not where the battery is now.
    """
    expected = await schedule_service.expected_socs(
        session=session,
        readings={d.id: (d.soc_pct, d.soc_at) for d in devices},
        limits={d.id: d.battery.limits() for d in devices},
        at=dict.fromkeys((d.id for d in devices), start),
    )
    return [replace(d, soc_pct=expected[d.id]) for d in devices]


async def solve_plans(
    solver: PlanSolver,
    devices: Sequence[FleetDevice],
    prices: Sequence[float],
    *,
    step_minutes: int,
    settings: Settings,
    progress: StageProgress | None,
) -> list[Dispatch]:
    """The plan of every device over `prices` (consecutive periods up to the day's end), from its measured SoC."""
    array = np.asarray(prices, dtype=np.float64)
    try:
        problems = [
            problem_for(d, prices=array, step_minutes=step_minutes, end_soc=settings.optimize_end_soc_pct)
            for d in devices
        ]
    except ValueError as exc:  # the same prices for every device: nothing can be planned on them
        raise DayNotPlannable(f"the optimizer cannot use the day's inputs: {exc}", reason="inputs") from exc
    done = 0

    def on_chunk(count: int) -> None:
        nonlocal done
        done += count
        _advance(progress, "solve", done, len(problems))

    _advance(progress, "solve", 0, len(problems))
    return await solver.solve(problems, on_chunk=on_chunk) if problems else []


async def store_plans(
    *,
    session: AsyncSession,
    settings: Settings,
    devices: Sequence[FleetDevice],
    plans: Sequence[Dispatch],
    start: datetime,
    day_end: datetime,
    now: datetime,
    report: FleetRun,
    dry_run: bool,
    progress: StageProgress | None,
) -> None:
    """Submit, as plans from `start` to the day's end, the schedules that differ from what the devices hold there."""
    replace_from = start
    views = {
        v.device_id: v
        for v in await schedule_service.device_views(session=session, device_ids=[d.id for d in devices], now=now)
    }
    raws: list[dict[str, object]] = []
    order: list[str] = []
    idle_now: list[str] = []  # planned intervals in the day, nothing after it, and a new plan to stay idle
    costs: dict[str, float] = {}
    for device, plan in zip(devices, plans, strict=True):
        costs[device.id] = plan.objective
        if plan.warnings:
            report.warnings[device.id] = plan.warnings
        schedule = to_schedule(plan, battery=device.battery, device_id=device.id, start=start)
        held, later = _held(views.get(device.id), replace_from, day_end)
        planned = schedule.intervals if schedule is not None else ()
        if planned == held:
            (report.unchanged if planned else report.idle).append(device.id)
            continue
        if not planned and not later:
            idle_now.append(device.id)
            continue
        raws.append(Schedule(device.id, planned + later).to_json())
        order.append(device.id)
    _advance(progress, "store", 0, len(raws))
    policy = schedule_service.schedule_policy(settings)
    if dry_run:
        refused = (
            await schedule_service.check(session=session, raws=raws, now=now, policy=policy, replace_from=replace_from)
            if raws
            else []
        )
        refusals = {order[r.index]: r.errors for r in refused}
        report.stored.extend(d for d in [*order, *idle_now] if d not in refusals)
    else:
        if idle_now:
            cleared = await schedule_service.clear_from(
                session=session, device_ids=idle_now, from_=replace_from, actor=OPTIMIZER, now=now, source=SOURCE
            )
            report.stored.extend(a.device_id for a in cleared)
        refusals = await _submit(
            session=session, raws=raws, order=order, policy=policy, replace_from=replace_from, now=now, report=report
        )
    for device_id, errors in refusals.items():
        report.skipped[device_id] = f"the fleet refused the schedule: {_first_reason(errors)}"
        report.refused.append(device_id)
    report.objective += sum(cost for device_id, cost in costs.items() if device_id not in refusals)
    _advance(progress, "store", len(raws), len(raws))


async def _submit(
    *,
    session: AsyncSession,
    raws: list[dict[str, object]],
    order: list[str],
    policy: SchedulePolicy,
    replace_from: datetime,
    now: datetime,
    report: FleetRun,
) -> dict[str, list[dict[str, str]]]:
    """Store the schedules the fleet accepts (into report.stored); returns the refused ones' errors by device."""
    if not raws:
        return {}
    try:
        result = await schedule_service.submit(
            session=session,
            raws=raws,
            actor=OPTIMIZER,
            now=now,
            policy=policy,
            batch=True,
            partial=True,
            source=SOURCE,
            replace_from=replace_from,
        )
    except ScheduleRejected as exc:  # every one refused: the errors' pointers start with /{index}
        return _refusals_by_device(exc.errors, order)
    report.stored.extend(a.device_id for a in result.accepted)
    return {order[r.index]: r.errors for r in result.rejected}


def _refusals_by_device(errors: Sequence[dict[str, Any]], order: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """A batch's errors grouped by the device of the schedule each points into (/{index}/...)."""
    found: dict[str, list[dict[str, str]]] = {device_id: [] for device_id in order}
    for error in errors:
        head = str(error.get("pointer", "")).split("/")[1:2]
        index = int(head[0]) if head and head[0].isdigit() else -1
        if 0 <= index < len(order):
            found[order[index]].append(error)
    return found


def _first_reason(errors: Sequence[dict[str, str]]) -> str:
    """The first violation in words with its code, and how many more there are."""
    if not errors:
        return "no reason given"
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"code {first.get('code')!r}: {first.get('detail')}{more}"


def _held(
    view: DeviceScheduleOut | None, replace_from: datetime, day_end: datetime
) -> tuple[tuple[Interval, ...], tuple[Interval, ...]]:
    """The device's intervals from replace_from to the day's end, and those after the day (kept as they are)."""
    if view is None:
        return (), ()
    held = [Interval(i.start, i.end, Mode(i.mode), i.rate_kw) for i in view.intervals if i.end > replace_from]
    return (
        tuple(i for i in held if i.start < day_end),
        tuple(i for i in held if i.start >= day_end),
    )


def _advance(progress: StageProgress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
