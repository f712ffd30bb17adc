"""Fleet optimization: one valid schedule per device of the market's fleet, idempotent re-runs, clear refusals."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.auth.schemas import SYSTEM
from gridpilot.config import Settings
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as device_service
from gridpilot.market import flows, registry
from gridpilot.market.exceptions import (
    DayNotPlannable,
    ForecastDayOutOfRange,
    NoCurrentModel,
    NoFleetDevices,
    UnknownMarket,
)
from gridpilot.market.fleet_plans import planned_soc_pct
from gridpilot.market.flows import FleetRun, check_plannable, fleet_devices
from gridpilot.market.series import day_bounds
from gridpilot.protocol import Interval, Mode, SchedulePolicy, validate_schedule
from gridpilot.telemetry import service as telemetry_service
from gridpilot.telemetry.schemas import DeviceState, TelemetryPointIn
from tests.market.factories import hourly_points, store_points
from tests.market.fleet_setup import (
    DAY,
    DAYS,
    FIRST,
    NOW,
    SOLVER,
    TZ,
    add_device,
    database,
    plan,
    seed_market,
    set_soc,
)


async def views(factory: async_sessionmaker[AsyncSession], *device_ids: str) -> dict[str, list[Interval]]:
    async with factory() as session:
        found = await schedule_service.device_views(session=session, device_ids=list(device_ids), now=NOW)
    return {v.device_id: [Interval(i.start, i.end, Mode(i.mode), i.rate_kw) for i in v.intervals] for v in found}


async def test_every_device_of_the_fleet_gets_one_valid_schedule_and_the_rest_a_reason(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            for device_id, soc in (("bat-1", 50.0), ("bat-2", 20.0), ("bat-3", 85.0)):
                await add_device(session, device_id, soc=soc)
            await add_device(session, "never-reported", soc=None)
            await add_device(session, "other-market", tags=("market:BE",))
            await add_device(session, "retired")
            retired = await device_service.get(session=session, device_id="retired")
            await device_service.decommission(session=session, device=retired, actor=SYSTEM, now=NOW)
            await session.commit()

        report = await plan(factory, settings)

        assert sorted(report.stored) == ["bat-1", "bat-2", "bat-3"] and report.devices == 4
        assert report.skipped == {"never-reported": "no SoC reported yet: the plan needs a starting point"}
        assert report.prices_source == "forecast" and report.model == "naive-weekly v1"
        assert report.objective < 0  # the weekly pattern rises through the day: buying early and selling late earns
        day_start, day_end = day_bounds(DAY, TZ)
        held = await views(factory, "bat-1", "bat-2", "bat-3")
        async with factory() as session:
            for device_id, intervals in held.items():
                device = await device_service.get(session=session, device_id=device_id)
                limits = device_service.battery_limits(device)
                assert intervals and all(day_start <= i.start and i.end <= day_end for i in intervals)
                raw = {"device_id": device_id, "intervals": [i.to_json() for i in intervals]}
                assert validate_schedule(raw, now=NOW, limits=limits, soc_pct=device.last_soc_pct).ok
                start_soc = planned_soc_pct(intervals, limits=limits, at=day_start, day_end=day_end, end_soc=50.0)
                assert start_soc == pytest.approx(device.last_soc_pct, abs=0.01)  # the plan's SoC path is recoverable
                history = await schedule_service.history(session=session, device_id=device_id, limit=5, now=NOW)
                assert [(h.version, h.source, h.created_by) for h in history] == [(1, "optimizer", "system:optimizer")]


async def test_running_the_same_day_again_replaces_only_what_changed(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "bat-1", soc=50.0)
            await add_device(session, "bat-2", soc=50.0)
            await session.commit()
        first = await plan(factory, settings)
        before = await views(factory, "bat-1", "bat-2")

        again = await plan(factory, settings)
        assert again.stored == [] and sorted(again.unchanged) == ["bat-1", "bat-2"]
        assert await views(factory, "bat-1", "bat-2") == before

        async with factory() as session:
            await set_soc(session, "bat-1", 12.0, NOW)
            await session.commit()
        changed = await plan(factory, settings)
        assert changed.stored == ["bat-1"] and changed.unchanged == ["bat-2"]
        after = await views(factory, "bat-1", "bat-2")
        assert after["bat-2"] == before["bat-2"] and after["bat-1"] != before["bat-1"]
        async with factory() as session:
            versions = await schedule_service.history(session=session, device_id="bat-1", limit=5, now=NOW)
            schedule = await schedule_service.get(session=session, schedule_id=versions[0].id)
        assert [v.version for v in versions] == [2, 1] and versions[0].effective_from == day_bounds(DAY, TZ)[0]
        assert [(i.start, i.end, i.mode, i.rate_kw) for i in after["bat-1"]] == [
            (i.start, i.end, i.mode, i.rate_kw) for i in schedule.intervals
        ]  # nothing of version 1 is left in the day
        assert sorted(first.stored) == ["bat-1", "bat-2"]


async def test_a_dry_run_reports_and_stores_nothing(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "bat-1")
            await session.commit()
        report = await plan(factory, settings, dry_run=True)
        assert report.stored == ["bat-1"]
        assert await views(factory, "bat-1") == {"bat-1": []}


async def test_the_days_actual_prices_are_used_once_all_are_stored(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await store_points(session, "NP", TZ, hourly_points(DAY, 1, TZ), now=NOW)
            await add_device(session, "bat-1")
            await session.commit()
        report = await plan(factory, settings)
        assert report.prices_source == "actual" and report.model is None and report.stored == ["bat-1"]


async def test_refusals_say_what_is_missing(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings, model=False)
            await seed_market(session, settings, market="BE")
            await add_device(session, "bat-1")
            await add_device(session, "bat-be", tags=("market:BE",))
            await session.commit()
        with pytest.raises(UnknownMarket):
            await plan(factory, settings, market="XX")
        with pytest.raises(NoCurrentModel):
            await plan(factory, settings)
        with pytest.raises(NoFleetDevices, match="market:DE"):
            async with factory() as session:
                await seed_market(session, settings, market="DE", model=False, days=2)
                await session.commit()
            await plan(factory, settings, market="DE")
        with pytest.raises(ForecastDayOutOfRange):
            await plan(factory, settings, market="BE", day=DAY + timedelta(days=5))


async def test_a_device_that_only_sent_telemetry_is_planned_from_its_measured_soc(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "telemetry-only", soc=None)
            await add_device(session, "stale-ack", soc=80.0, soc_at=NOW - timedelta(hours=2))
            await add_device(session, "never-reported", soc=None)
            for device_id, soc in (("telemetry-only", 30.0), ("stale-ack", 20.0)):
                point = TelemetryPointIn(
                    at=NOW - timedelta(minutes=5), soc_pct=soc, power_kw=0.0, state=DeviceState.IDLE
                )
                await telemetry_service.record(session=session, device_id=device_id, points=[point], now=NOW)
            await session.commit()
        async with factory() as session:
            run = FleetRun(market="NP", day=DAY)
            found = await fleet_devices(session=session, settings=settings, market="NP", now=NOW, report=run)
        assert {(d.id, d.soc_pct) for d in found} == {("telemetry-only", 30.0), ("stale-ack", 20.0)}
        assert run.skipped == {"never-reported": "no SoC reported yet: the plan needs a starting point"}


async def test_tomorrows_plan_starts_where_todays_stored_plan_leaves_the_battery(settings: Settings) -> None:
    evening = NOW.replace(hour=16)  # 17:00 in Oslo the day before
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "bat-1", soc=50.0)  # 10 kWh, 95 %: 2 kW for 2 h adds 38 points
            today = {
                "device_id": "bat-1",
                "intervals": [Interval(evening, evening + timedelta(hours=2), Mode.CHARGE, 2.0).to_json()],
            }
            await schedule_service.submit(
                session=session,
                raws=[today],
                actor=SYSTEM,
                now=NOW,
                policy=schedule_service.schedule_policy(settings),
                batch=False,
            )
            await session.commit()
        report = await plan(factory, settings)
        async with factory() as session:
            limits = device_service.battery_limits(await device_service.get(session=session, device_id="bat-1"))
        planned = (await views(factory, "bat-1"))["bat-1"]

    assert report.stored == ["bat-1"]
    day_start, day_end = day_bounds(DAY, TZ)
    assert planned[0] == Interval(evening, evening + timedelta(hours=2), Mode.CHARGE, 2.0)  # today's, kept
    tomorrow = [i for i in planned if i.start >= day_start]
    assert planned_soc_pct(tomorrow, limits=limits, at=day_start, day_end=day_end, end_soc=50.0) == pytest.approx(
        88.0, abs=0.05
    )  # rates in whole watts


async def test_an_idle_plan_clears_the_rest_of_the_day_and_keeps_what_comes_after_it(settings: Settings) -> None:
    day_start, day_end = day_bounds(DAY, TZ)

    def interval(start: datetime, mode: int) -> dict[str, object]:
        return {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(), "mode": mode, "rate_kw": 1}

    async with database(settings) as factory:
        async with factory() as session:
            flat = [(at, 40.0) for at, _ in hourly_points(FIRST, DAYS, TZ)]  # nothing to gain: the plan is idle
            await store_points(session, "NP", TZ, flat, now=NOW)
            request = registry.TrainingRequest(market="NP", model_name="naive-weekly", options={}, holdout_days=2)
            await registry.train(session=session, settings=settings, request=request, now=NOW, promote=True)
            for device_id in ("with-tomorrow", "day-only"):
                await add_device(session, device_id, soc=50.0)
            held = [
                {
                    "device_id": "with-tomorrow",
                    "intervals": [
                        interval(day_start + timedelta(hours=3), 1),
                        interval(day_end + timedelta(hours=2), 2),
                    ],
                },
                {"device_id": "day-only", "intervals": [interval(day_start + timedelta(hours=3), 1)]},
            ]
            await schedule_service.submit(
                session=session, raws=held, actor=SYSTEM, now=NOW, policy=SchedulePolicy(), batch=True
            )
            await session.commit()

        report = await plan(factory, settings)

        assert sorted(report.stored) == ["day-only", "with-tomorrow"] and report.skipped == {}
        kept = await views(factory, "with-tomorrow", "day-only")
        assert [(i.start, i.mode) for i in kept["with-tomorrow"]] == [(day_end + timedelta(hours=2), Mode.DISCHARGE)]
        assert kept["day-only"] == []  # a version with no intervals took over: nothing planned any more
        async with factory() as session:
            history = await schedule_service.history(session=session, device_id="day-only", limit=5, now=NOW)
        assert [(h.version, h.source) for h in history] == [(2, "optimizer"), (1, "api")]

        again = await plan(factory, settings)  # nothing held in the day now: the idle plan changes nothing
        assert again.stored == [] and sorted(again.idle) == ["day-only", "with-tomorrow"]


class NeverCalled:
    """A solver that fails the test if anything reaches it."""

    async def solve(self, problems: object, *, on_chunk: object = None) -> list[object]:
        raise AssertionError("the day should have been refused before optimizing")


@pytest.mark.parametrize(
    ("day", "reason", "words"),
    [
        (DAY - timedelta(days=2), "over", "is over"),
        (DAY - timedelta(days=1), "today", "drift correction"),  # NOW is 3 November: the day has begun
        (DAY + timedelta(days=7), "beyond_horizon", "schedule horizon of 7 days"),
    ],
)
async def test_a_day_the_fleet_would_refuse_for_its_timing_is_refused_before_optimizing(
    settings: Settings, day: date, reason: str, words: str
) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "bat-1")
            await session.commit()
        for dry_run in (False, True):
            with pytest.raises(DayNotPlannable, match=words) as refused:
                await plan(factory, settings, day=day, solver=NeverCalled(), dry_run=dry_run)
            assert refused.value.extensions["reason"] == reason
        assert (await views(factory, "bat-1"))["bat-1"] == []


def test_the_horizon_is_the_fleets_schedule_policy() -> None:
    check_plannable(market="NP", day=DAY, timezone=TZ, now=NOW, max_horizon=timedelta(days=7))
    with pytest.raises(DayNotPlannable, match="horizon of 1 day ahead"):
        check_plannable(market="NP", day=DAY, timezone=TZ, now=NOW, max_horizon=timedelta(days=1))
    check_plannable(market="NP", day=DAY, timezone=TZ, now=day_bounds(DAY, TZ)[0], max_horizon=timedelta(days=1))


async def test_a_short_configured_horizon_refuses_tomorrow_up_front(settings: Settings) -> None:
    short = settings.model_copy(update={"schedule_max_horizon_days": 1})
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "bat-1")
            await session.commit()
        with pytest.raises(DayNotPlannable, match="horizon of 1 day"):
            await plan(factory, short, solver=NeverCalled())


async def test_a_refused_schedule_says_why_and_its_cost_is_not_counted(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "bat-ok", soc=50.0)
            await add_device(session, "bat-overtaken", soc=88.0)
            await session.commit()
        dry, cost_ok = await store_a_plan_made_from_an_overtaken_reading(factory, settings, dry_run=True)
        report, _ = await store_a_plan_made_from_an_overtaken_reading(factory, settings, dry_run=False)

    for run in (dry, report):
        assert run.stored == ["bat-ok"] and run.refused == ["bat-overtaken"]
        assert run.skipped["bat-overtaken"].startswith("the fleet refused the schedule: code 'soc_")
        assert "above the device's maximum of 90%" in run.skipped["bat-overtaken"]
    assert report.objective == dry.objective == pytest.approx(cost_ok)


async def store_a_plan_made_from_an_overtaken_reading(
    factory: async_sessionmaker[AsyncSession], settings: Settings, *, dry_run: bool
) -> tuple[FleetRun, float]:
    """Plans for tomorrow, bat-overtaken's made from 20 % although the fleet has since heard 88 % from it;
    the run's report and bat-ok's expected cost."""
    async with factory() as session:
        report = FleetRun(market="NP", day=DAY)
        devices = await flows.fleet_devices(session=session, settings=settings, market="NP", now=NOW, report=report)
        start, end = day_bounds(DAY, TZ)
        devices = [replace(d, soc_pct=20.0) if d.id == "bat-overtaken" else d for d in devices]
        prices = [40.0 + 30.0 * math.sin(hour / 24 * 2 * math.pi) for hour in range(24)]
        plans = await flows.solve_plans(SOLVER, devices, prices, step_minutes=60, settings=settings, progress=None)
        cost_ok = next(p.objective for d, p in zip(devices, plans, strict=True) if d.id == "bat-ok")
        await flows.store_plans(
            session=session,
            settings=settings,
            devices=devices,
            plans=plans,
            start=start,
            day_end=end,
            now=NOW,
            report=report,
            dry_run=dry_run,
            progress=None,
        )
        await session.commit()
    return report, cost_ok


async def test_when_every_schedule_is_refused_each_device_gets_its_first_reason(settings: Settings) -> None:
    capped = settings.model_copy(update={"schedule_max_intervals": 1})  # an operator's cap that plans exceed
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            await add_device(session, "bat-1", soc=30.0)
            await add_device(session, "bat-2", soc=70.0)
            await session.commit()
        report = await plan(factory, capped)

    assert report.stored == [] and sorted(report.refused) == ["bat-1", "bat-2"] and report.objective == 0.0
    for device_id in ("bat-1", "bat-2"):
        assert report.skipped[device_id].startswith("the fleet refused the schedule: code 'too_many'")
        assert "nothing was stored" not in report.skipped[device_id]
