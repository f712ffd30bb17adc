"""Intraday re-optimization: a device whose measured SoC left its plan gets the rest of the day re-planned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.schemas import SYSTEM
from gridpilot.config import Settings
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as device_service
from gridpilot.market.fleet_plans import planned_soc_pct
from gridpilot.market.series import day_bounds
from gridpilot.protocol import Interval, Mode, soc_change_pct
from tests.market.fleet_setup import DAY, NOW, TZ, add_device, correct, database, plan, seed_market, set_soc

INTRADAY = datetime(2024, 11, 4, 9, 20, tzinfo=UTC)  # 10:20 in Oslo on the planned day
PERIOD = datetime(2024, 11, 4, 9, 0, tzinfo=UTC)  # the hour INTRADAY falls in


async def test_only_the_drifting_devices_rest_of_the_day_is_replaced(settings: Settings) -> None:
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            for device_id in ("drifted", "on-plan", "operator", "stale"):
                await add_device(session, device_id, soc=50.0)
            await session.commit()
        await plan(factory, settings)
        day_start, day_end = day_bounds(DAY, TZ)
        async with factory() as session:
            limits = device_service.battery_limits(await device_service.get(session=session, device_id="drifted"))
            planned_then = planned_soc_pct(
                (await _views(session, NOW))["operator"], limits=limits, at=PERIOD, day_end=day_end, end_soc=50.0
            )
            mode = Mode.DISCHARGE if planned_then > 50.0 else Mode.CHARGE  # one the plan leaves room for
            operator = {
                "device_id": "operator",
                "intervals": [Interval(PERIOD, PERIOD + timedelta(hours=1), mode, 1.0).to_json()],
            }
            await schedule_service.submit(
                session=session,
                raws=[operator],
                actor=SYSTEM,
                now=NOW,
                policy=schedule_service.schedule_policy(settings),
                batch=False,
            )
            before = await _views(session, INTRADAY)
            planned = planned_soc_pct(before["drifted"], limits=limits, at=PERIOD, day_end=day_end, end_soc=50.0)
            measured = planned + 20.0 if planned < 60 else planned - 20.0
            await set_soc(session, "drifted", measured, PERIOD)
            on_plan = planned_soc_pct(before["on-plan"], limits=limits, at=PERIOD, day_end=day_end, end_soc=50.0)
            await set_soc(session, "on-plan", on_plan + 1.0, PERIOD)
            await set_soc(session, "operator", 88.0, PERIOD)
            await set_soc(session, "stale", 88.0, day_start)
            await session.commit()

        report = await correct(factory, settings, INTRADAY)

        assert report.stored == ["drifted"] and set(report.drifted) == {"drifted", "operator"}
        assert "not the optimizer's" in report.skipped["operator"] and "too old" in report.skipped["stale"]
        async with factory() as session:
            after = await _views(session, INTRADAY)
        assert [i for i in after["drifted"] if i.start < PERIOD] == [
            i._replace(end=min(i.end, PERIOD)) for i in before["drifted"] if i.start < PERIOD
        ]  # the morning as it was
        assert all(i.end <= day_end for i in after["drifted"])
        replanned = planned_soc_pct(after["drifted"], limits=limits, at=PERIOD, day_end=day_end, end_soc=50.0)
        assert replanned == pytest.approx(measured, abs=0.01)  # the rest of the day starts from the measurement
        assert after["on-plan"] == before["on-plan"] and after["operator"] == before["operator"]


async def _views(
    session: AsyncSession,
    now: datetime,
    device_ids: tuple[str, ...] | list[str] = ("drifted", "on-plan", "operator", "stale"),
) -> dict[str, list[Interval]]:
    found = await schedule_service.device_views(session=session, device_ids=list(device_ids), now=now)
    return {v.device_id: [Interval(i.start, i.end, Mode(i.mode), i.rate_kw) for i in v.intervals] for v in found}


async def test_the_day_before_a_planned_day_must_end_where_that_plan_starts(settings: Settings) -> None:
    """No plan today, tomorrow's planned from 30 %: at 30 % nothing drifts; at 60 % today's rest is re-planned
    back to 30 %, so that tomorrow's plan still fits (a re-plan to the usual 50 % would not)."""
    async with database(settings) as factory:
        async with factory() as session:
            await seed_market(session, settings)
            for device_id in ("steady", "moved"):
                await add_device(session, device_id, soc=30.0)
            await session.commit()
        await plan(factory, settings)
        later = NOW + timedelta(minutes=20)
        async with factory() as session:
            await set_soc(session, "moved", 60.0, later)
            await session.commit()
        report = await correct(factory, settings, later)
        async with factory() as session:
            limits = device_service.battery_limits(await device_service.get(session=session, device_id="moved"))
            moved = (await _views(session, later, ["moved"]))["moved"]

    assert set(report.drifted) == {"moved"} and report.drifted["moved"] == pytest.approx(30.0, abs=0.05)
    assert report.stored == ["moved"] and report.skipped == {}
    today_end = day_bounds(DAY, TZ)[0]
    rest_of_today = [i for i in moved if i.start < today_end]
    assert 60.0 + sum(soc_change_pct(i, limits) for i in rest_of_today) == pytest.approx(30.0, abs=0.05)
