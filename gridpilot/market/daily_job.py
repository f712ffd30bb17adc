"""The server's optimization job: every market's fleet planned for tomorrow at a market-local time each day,
and plans checked against measured SoC every few minutes in between (receding horizon).

Every server process with GRIDPILOT_OPTIMIZE_DAILY_AT starts it, but only the holder of the
database lease "fleet-optimizer" runs it; the others stand by and take over once the holder's
lease expires (it died), catching up a missed run at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.config import Settings
from gridpilot.db import utcnow
from gridpilot.fleet import distribution
from gridpilot.fleet import service as device_service
from gridpilot.market import fleet_jobs, job_lease
from gridpilot.market import service as price_service
from gridpilot.market.fleet_plans import market_tag
from gridpilot.market.fleet_solvers import PlanSolver
from gridpilot.market.series import local_day
from gridpilot.market.serving import ModelCache
from gridpilot.problem import DomainError

log = logging.getLogger("gridpilot.optimizer")
REDISCOVER = timedelta(hours=1)  # markets whose fleets appear later are noticed within this
LEASE_NAME = "fleet-optimizer"
LEASE_RENEW = timedelta(minutes=1)  # the holder wakes at least this often to renew; standbys try this often


def run_time_on(day_local: datetime, at: time, timezone: str) -> datetime:
    """The UTC instant of `at` on the market-local date of `day_local`.

    A time the clocks skip (spring forward) falls an hour later in wall-clock terms; a time that happens twice
    (fall back) is taken at its first occurrence.
    """
    return datetime.combine(day_local.date(), at, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def next_run_at(now: datetime, at: time, timezone: str) -> datetime:
    """The first instant after `now` at which the market-local clock reads `at`."""
    local = now.astimezone(ZoneInfo(timezone))
    for days in range(3):
        instant = run_time_on(local + timedelta(days=days), at, timezone)
        if instant > now:
            return instant
    raise AssertionError("unreachable: a wall-clock time occurs within any three days")


class DailyJob:
    """Plans tomorrow for each market once a day, catching up at start-up, and corrects drift in between."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        cache: ModelCache,
        solver: PlanSolver,
        publisher: distribution.ViewPublisher | None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if settings.optimize_daily_at is None:
            raise ValueError("the daily job needs GRIDPILOT_OPTIMIZE_DAILY_AT")
        self._at = settings.optimize_daily_at
        self._settings = settings
        self._session_factory = session_factory
        self._cache = cache
        self._solver = solver
        self._publisher = publisher
        self._clock = clock
        self._sleep = sleep
        self._drift_every = timedelta(minutes=settings.optimize_drift_every_min)
        self.next_plan: dict[str, datetime] = {}
        self.next_drift: datetime | None = None
        self.holder = job_lease.holder_name()
        # longer than a tick can take (a fleet run waits up to optimize_task_timeout_s for its tasks)
        self._lease_ttl = max(timedelta(minutes=5), 2 * timedelta(seconds=settings.optimize_task_timeout_s))

    async def run(self) -> None:
        """Tick while holding the lease, stand by otherwise, until cancelled (then give the lease up)."""
        try:
            while True:
                wake = await self.step(self._clock())
                await self._sleep(max((wake - self._clock()).total_seconds(), 0.0))
        finally:
            try:
                await job_lease.release(session_factory=self._session_factory, name=LEASE_NAME, holder=self.holder)
            except Exception as exc:  # noqa: BLE001 - whatever went wrong, the lease expires by itself
                log.warning("the optimizer's lease was not released: %s", exc)

    async def step(self, now: datetime) -> datetime:
        """Tick if this process holds (or takes) the lease; returns when to step again."""
        held = await job_lease.acquire(
            session_factory=self._session_factory, name=LEASE_NAME, holder=self.holder, now=now, ttl=self._lease_ttl
        )
        if not held:
            return now + LEASE_RENEW
        return min(await self.tick(now), self._clock() + LEASE_RENEW)

    async def tick(self, now: datetime) -> datetime:
        """Run whatever is due at `now`; returns when the next thing is due."""
        markets = await self._markets(now)
        wake = now + REDISCOVER
        for code, timezone in markets:
            due = self.next_plan.setdefault(code, run_time_on(now.astimezone(ZoneInfo(timezone)), self._at, timezone))
            if due <= now:  # today's run (at start-up: a missed one is caught up; re-runs are idempotent)
                await self._plan(code, local_day(now, timezone) + timedelta(days=1), now)
                due = self.next_plan[code] = next_run_at(now, self._at, timezone)
            wake = min(wake, due)
        if self._drift_every:
            if self.next_drift is None:
                self.next_drift = now + self._drift_every
            elif self.next_drift <= now:
                for code, _ in markets:
                    await self._correct(code, now)
                self.next_drift = now + self._drift_every
            wake = min(wake, self.next_drift)
        return wake

    async def _markets(self, now: datetime) -> list[tuple[str, str]]:
        """(code, time zone) of every market with at least one active device tagged for it."""
        liveness = device_service.liveness(self._settings)
        found: list[tuple[str, str]] = []
        async with self._session_factory() as session:
            for market in await price_service.list_markets(session=session):
                if await device_service.list_devices(
                    session=session, now=now, liveness=liveness, limit=1, tag=market_tag(market.code)
                ):
                    found.append((market.code, market.timezone))
        return found

    async def _plan(self, market: str, day: date, now: datetime) -> None:
        try:
            report = await fleet_jobs.plan_day(
                session_factory=self._session_factory,
                settings=self._settings,
                cache=self._cache,
                solver=self._solver,
                publisher=self._publisher,
                market=market,
                day=day,
                now=now,
            )
        except DomainError as exc:
            log.warning("fleet optimization of %s for %s not done: %s", market, day, exc.detail)
        except Exception:  # one market's failure must not stop the job
            log.exception("fleet optimization of %s for %s failed", market, day)
        else:
            log.info(
                "planned %s for %s: %s stored, %s unchanged, %s idle, %s skipped",
                market,
                day,
                len(report.stored),
                len(report.unchanged),
                len(report.idle),
                len(report.skipped),
            )

    async def _correct(self, market: str, now: datetime) -> None:
        try:
            report = await fleet_jobs.correct_drift(
                session_factory=self._session_factory,
                settings=self._settings,
                cache=self._cache,
                solver=self._solver,
                publisher=self._publisher,
                market=market,
                now=now,
            )
        except DomainError as exc:
            log.warning("drift check of %s not done: %s", market, exc.detail)
        except Exception:  # one market's failure must not stop the job
            log.exception("drift check of %s failed", market)
        else:
            if report.drifted:
                log.info(
                    "%s devices of %s drifted from their plan; %s re-planned",
                    len(report.drifted),
                    market,
                    len(report.stored),
                )
