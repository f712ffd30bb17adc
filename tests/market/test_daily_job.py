"""The server's daily optimization job: when it runs (market-local, across DST), and what one tick does."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from gridpilot.config import Settings
from gridpilot.fleet import schedules as schedule_service
from gridpilot.market.daily_job import DailyJob, next_run_at
from gridpilot.market.series import day_bounds
from tests.market.fleet_setup import DAY, NOW, SOLVER, add_device, cache, database, seed_market

OSLO = "Europe/Oslo"


@pytest.mark.parametrize(
    ("now", "at", "expected"),
    [
        (datetime(2024, 11, 3, 10, 0, tzinfo=UTC), time(12, 30), datetime(2024, 11, 3, 11, 30, tzinfo=UTC)),
        (datetime(2024, 11, 3, 11, 30, tzinfo=UTC), time(12, 30), datetime(2024, 11, 4, 11, 30, tzinfo=UTC)),
        (datetime(2024, 6, 3, 10, 0, tzinfo=UTC), time(12, 30), datetime(2024, 6, 3, 10, 30, tzinfo=UTC)),
        # spring forward (31 March, 02:00 -> 03:00): the day before at winter offset, the day itself at summer's
        (datetime(2024, 3, 30, 12, 0, tzinfo=UTC), time(12, 30), datetime(2024, 3, 31, 10, 30, tzinfo=UTC)),
        # 02:30 does not exist that night: it runs at 03:30 summer time (an hour later on the wall clock)
        (datetime(2024, 3, 30, 23, 0, tzinfo=UTC), time(2, 30), datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
        # fall back (27 October, 03:00 -> 02:00): 02:30 happens twice and runs at its first occurrence only
        (datetime(2024, 10, 26, 23, 0, tzinfo=UTC), time(2, 30), datetime(2024, 10, 27, 0, 30, tzinfo=UTC)),
        (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), time(2, 30), datetime(2024, 10, 28, 1, 30, tzinfo=UTC)),
        (datetime(2024, 10, 26, 12, 0, tzinfo=UTC), time(12, 30), datetime(2024, 10, 27, 11, 30, tzinfo=UTC)),
    ],
)
def test_the_next_run_is_the_next_time_the_market_clock_shows_the_time(
    now: datetime, at: time, expected: datetime
) -> None:
    assert next_run_at(now, at, OSLO) == expected


async def test_a_tick_plans_tomorrow_when_due_and_says_when_to_wake(settings: Settings) -> None:
    configured = settings.model_copy(update={"optimize_daily_at": time(12, 30), "optimize_drift_every_min": 0})
    async with database(configured) as factory:
        async with factory() as session:
            await seed_market(session, configured)
            await seed_market(session, configured, market="BE", model=False)  # no model: its run is skipped
            await add_device(session, "bat-1")
            await add_device(session, "bat-be", tags=("market:BE",))
            await session.commit()
        job = DailyJob(settings=configured, session_factory=factory, cache=cache(), solver=SOLVER, publisher=None)

        due = datetime(2024, 11, 3, 11, 30, tzinfo=UTC)  # 12:30 in Oslo and Brussels
        assert await job.tick(NOW) == NOW + timedelta(hours=1)  # markets are looked for again hourly
        assert await job.tick(due - timedelta(minutes=20)) == due
        async with factory() as session:
            assert await schedule_service.history(session=session, device_id="bat-1", limit=1, now=NOW) == []

        assert await job.tick(due) == due + timedelta(hours=1)
        async with factory() as session:
            history = await schedule_service.history(session=session, device_id="bat-1", limit=5, now=NOW)
            assert [h.source for h in history] == ["optimizer"]
            assert history[0].effective_from == day_bounds(DAY, OSLO)[0]
            assert await schedule_service.history(session=session, device_id="bat-be", limit=1, now=NOW) == []
        assert job.next_plan == {"NP": due + timedelta(days=1), "BE": due + timedelta(days=1)}


async def test_a_job_started_after_the_time_catches_up_at_once(settings: Settings) -> None:
    configured = settings.model_copy(update={"optimize_daily_at": time(9, 0), "optimize_drift_every_min": 15})
    async with database(configured) as factory:
        async with factory() as session:
            await seed_market(session, configured)
            await add_device(session, "bat-1")
            await session.commit()
        job = DailyJob(settings=configured, session_factory=factory, cache=cache(), solver=SOLVER, publisher=None)
        assert await job.tick(NOW) == NOW + timedelta(minutes=15)  # the drift check comes before tomorrow's run
        async with factory() as session:
            history = await schedule_service.history(session=session, device_id="bat-1", limit=5, now=NOW)
        assert len(history) == 1


async def test_only_the_lease_holder_runs_the_job_and_a_standby_takes_over_when_it_expires(settings: Settings) -> None:
    configured = settings.model_copy(update={"optimize_daily_at": time(12, 30), "optimize_drift_every_min": 0})
    async with database(configured) as factory:
        async with factory() as session:
            await seed_market(session, configured)
            await add_device(session, "bat-1")
            await session.commit()
        first, second = (
            DailyJob(settings=configured, session_factory=factory, cache=cache(), solver=SOLVER, publisher=None)
            for _ in range(2)
        )
        due = datetime(2024, 11, 3, 11, 30, tzinfo=UTC)
        await first.step(due)
        await second.step(due)
        assert first.next_plan == {"NP": due + timedelta(days=1)}
        assert second.next_plan == {}  # stood by: the first holds the lease
        async with factory() as session:
            history = await schedule_service.history(session=session, device_id="bat-1", limit=5, now=NOW)
        assert len(history) == 1

        much_later = due + timedelta(hours=2)  # the first process died: its lease has expired
        await second.step(much_later)
        assert second.next_plan == {"NP": due + timedelta(days=1)}  # took over and caught up today's run
        await first.step(much_later + timedelta(minutes=1))
        assert first.next_plan == {"NP": due + timedelta(days=1)}  # unchanged: it lost the lease


async def test_a_released_lease_is_taken_at_once(settings: Settings) -> None:
    from gridpilot.market import job_lease

    async with database(settings) as factory:
        lease = {"session_factory": factory, "name": "job", "ttl": timedelta(minutes=5)}
        assert await job_lease.acquire(**lease, holder="a", now=NOW)
        assert await job_lease.acquire(**lease, holder="a", now=NOW + timedelta(minutes=1))  # renewed
        assert not await job_lease.acquire(**lease, holder="b", now=NOW + timedelta(minutes=5))  # a renewed it
        await job_lease.release(session_factory=factory, name="job", holder="b")  # not b's to release
        assert not await job_lease.acquire(**lease, holder="b", now=NOW + timedelta(minutes=5))
        await job_lease.release(session_factory=factory, name="job", holder="a")
        assert await job_lease.acquire(**lease, holder="b", now=NOW + timedelta(minutes=5))
