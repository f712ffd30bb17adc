"""The demo's market day, through the same services the commands use: prices, model, forecast, plan, bids.

The day-ahead side runs on the real calendar for tomorrow: the model forecasts it, the fleet optimizer
plans it on that forecast, the clearing prices are "published" (imported) only then, the bids clear on the
simulated exchange, and the market page shows their revenue. What the fleet executes right now comes from
`live.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.config import Settings
from gridpilot.demo import timeline
from gridpilot.fleet.distribution import ViewPublisher
from gridpilot.fleet.schedules import schedule_policy
from gridpilot.market import bidding, bidding_service, fleet_jobs, importing, registry, serving
from gridpilot.market import service as price_service
from gridpilot.market.fleet_solvers import InProcessSolver
from gridpilot.market.flows import FleetRun
from gridpilot.market.imports.batch import PriceBatch, PricePoint
from gridpilot.market.schemas import BidDayOut
from gridpilot.market.series import day_periods
from gridpilot.problem import DomainError

log = logging.getLogger("gridpilot.demo")
MARKET = timeline.SAMPLE_MARKET
TIMEZONE = timeline.SAMPLE_TIMEZONE
MARKET_TAG = f"market:{MARKET}"
# a demo fleet is small next to a real portfolio: the simulated exchange takes bids from 10 kW, in 1 kW steps
RULES = bidding.MarketRules(min_bid_mw=0.01, increment_mw=0.001)
_MODEL_OPTIONS = {"windows": [28]}  # LEAR on four-week windows: the shipped sample is nine weeks long

Factory = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class Revenue:
    """The day's bids as the market page sums them: accepted MW x 1 h x clearing price, sales positive."""

    day: date
    bought_mwh: float
    sold_mwh: float
    revenue: float
    status: str


def sample_points(*, last_day: date) -> dict[date, list[tuple[datetime, float]]]:
    """The sample's prices per calendar day, relabelled to end on `last_day`."""
    return {
        day: timeline.day_prices(day, sample.prices, TIMEZONE)
        for day, sample in timeline.relabel(timeline.read_sample(), last_day=last_day)
    }


async def import_days(factory: Factory, *, days: dict[date, list[tuple[datetime, float]]], now: datetime) -> int:
    """Store the given days' prices (an upsert: a rerun changes nothing); returns how many periods were read."""
    first, last = min(days), max(days)
    batch = PriceBatch(
        source=f"gridpilot demo: Nord Pool 2018 sample replayed {first}..{last}",
        resolution_minutes=60,
        currency="EUR",
        unit="EUR/MWh",
        points=[PricePoint(start, price, n) for n, (start, price) in enumerate(p for d in days.values() for p in d)],
    )
    batch.rows_read = len(batch.points)
    async with factory() as session:
        await importing.import_batch(session=session, market=MARKET, timezone=TIMEZONE, batch=batch, now=now)
        await session.commit()
    return batch.rows_read


async def ensure_model(factory: Factory, *, settings: Settings, now: datetime) -> str:
    """The market's current model; trains and promotes LEAR on the stored prices when there is none."""
    async with factory() as session:
        record = await registry.current(session=session, market=MARKET)
        if record is None:
            request = registry.TrainingRequest(
                market=MARKET,
                model_name="lear",
                options=dict(_MODEL_OPTIONS),
                window_days=None,
                holdout_days=7,
                resolution_minutes=60,
            )
            record = await registry.train(session=session, settings=settings, request=request, now=now, promote=True)
            await session.commit()
        return f"{record.name} v{record.version}"


async def forecast(
    factory: Factory, *, settings: Settings, cache: serving.ModelCache, day: date, now: datetime
) -> None:
    """Serve (and so log) the current model's forecast of `day`, for the market page's forecast line."""
    async with factory() as session:
        await serving.forecast(session=session, settings=settings, cache=cache, market=MARKET, day=day, now=now)
        await session.commit()


async def plan(
    factory: Factory,
    *,
    settings: Settings,
    cache: serving.ModelCache,
    day: date,
    now: datetime,
    publisher: ViewPublisher | None,
) -> FleetRun:
    """The fleet optimizer's plan of `day` for every device tagged market:NP, stored as their schedules."""
    return await fleet_jobs.plan_day(
        session_factory=factory,
        settings=settings,
        cache=cache,
        solver=InProcessSolver(jobs=1),
        publisher=publisher,
        market=MARKET,
        day=day,
        now=now,
    )


async def bid(factory: Factory, *, settings: Settings, day: date, now: datetime) -> Revenue:
    """Bid the day's planned positions on the simulated exchange (once: a rerun finds it submitted), then sum up."""
    async with factory() as session:
        hours = day_periods(day, TIMEZONE, 60)
        actual = await price_service.actual_prices(session=session, market=MARKET, resolution_minutes=60, starts=hours)
        await bidding_service.run(
            session=session,
            market=MARKET,
            day=day,
            rules=RULES,
            adapter=bidding.SimulatedExchange(actual),
            exchange="simulated",
            sleep=asyncio.sleep,
            policy=schedule_policy(settings),
            now=now,
        )
        await session.commit()
    return await revenue(factory, day=day)


async def revenue(factory: Factory, *, day: date) -> Revenue:
    """The day's bid revenue as the market page computes it."""
    async with factory() as session:
        report: BidDayOut = await bidding_service.day_report(session=session, market=MARKET, day=day)
    money = sum(
        (b.accepted_mw or 0.0) * (b.clearing_price or 0.0) * (1.0 if b.side.value == "sell" else -1.0)
        for b in report.bids
    )
    return Revenue(day, report.accepted_buy_mwh, report.accepted_sell_mwh, money, report.status)


async def market_day(
    factory: Factory,
    *,
    settings: Settings,
    today: date,
    now: datetime,
    say: Callable[[str], None],
    publisher: ViewPublisher | None = None,
) -> tuple[FleetRun | None, Revenue | None]:
    """Tomorrow on the day-ahead market: forecast, optimize on the forecast, publish prices, bid, clear."""
    tomorrow = today + timedelta(days=1)
    days = sample_points(last_day=tomorrow)
    cache = serving.ModelCache()
    run: FleetRun | None = None
    try:
        await forecast(factory, settings=settings, cache=cache, day=today, now=now)
        run = await plan(factory, settings=settings, cache=cache, day=tomorrow, now=now, publisher=publisher)
        source = f"the forecast of {run.model}" if run.prices_source == "forecast" else "its published prices"
        say(f"optimized {tomorrow} for {len(run.stored) + len(run.unchanged)} batteries on {source}")
    except DomainError as exc:
        say(f"could not plan {tomorrow}: {exc.title}: {exc.detail}")
        return run, None
    await import_days(factory, days={tomorrow: days[tomorrow]}, now=now)
    try:
        result = await bid(factory, settings=settings, day=tomorrow, now=now)
    except DomainError as exc:
        say(f"could not bid {tomorrow}: {exc.title}: {exc.detail}")
        return run, None
    return run, result
