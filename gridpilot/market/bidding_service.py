"""Bidding runs: build a market-day's bids from the fleet's plan, submit them once, store outcomes, update schedules."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.schemas import Actor
from gridpilot.fleet import schedules as fleet_schedules
from gridpilot.fleet.exceptions import ScheduleRejected
from gridpilot.market import bidding
from gridpilot.market import service as price_service
from gridpilot.market.bidding_inputs import HOUR, device_plans, hourly_forecast
from gridpilot.market.exceptions import BiddingInputsMissing, BidsNotFound, DemandResponseRejected
from gridpilot.market.models import BidOutcome, BidSubmission, DemandResponseSignal, HourlyDecision, StoredBid
from gridpilot.market.schemas import BidDayOut, BidOut, DecisionOut, DemandResponseIn
from gridpilot.market.series import day_periods
from gridpilot.protocol import SchedulePolicy

MARKET_ACTOR = Actor(kind="system", id="market", name="market")


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a bidding run ended: the stored submission, whether this run sent it, and the schedules it changed."""

    submission_id: int
    status: str
    sent: bool
    schedules_updated: int
    schedules_rejected: int
    shortfall_hours: int
    error: str | None


async def record_event(
    *, session: AsyncSession, event_in: DemandResponseIn, actor: Actor, now: datetime
) -> DemandResponseSignal:
    """Store a demand-response event; its window must be whole hours, start before end."""
    errors = []
    if event_in.end <= event_in.start:
        errors.append({"pointer": "/end", "code": "not_after_start", "detail": "end must be after start"})
    for name in ("start", "end"):
        moment: datetime = getattr(event_in, name)
        if moment.minute or moment.second or moment.microsecond:
            errors.append({"pointer": f"/{name}", "code": "off_grid", "detail": "must be on a whole hour"})
    if errors:
        raise DemandResponseRejected(f"{len(errors)} problem(s) in the event; nothing was stored", errors=errors)
    await price_service.get_market(session=session, code=event_in.market)
    signal = DemandResponseSignal(
        market=event_in.market,
        kind=event_in.kind.value,
        start=event_in.start,
        end=event_in.end,
        requested_mw=event_in.requested_mw,
        source=event_in.source,
        created_by=actor.label,
        created_at=now,
    )
    session.add(signal)
    await session.flush()
    return signal


async def _events(*, session: AsyncSession, market: str, start: datetime, end: datetime) -> list[DemandResponseSignal]:
    """The market's events whose windows overlap [start, end)."""
    query = select(DemandResponseSignal).where(
        DemandResponseSignal.market == market, DemandResponseSignal.start < end, DemandResponseSignal.end > start
    )
    return list(await session.scalars(query.order_by(DemandResponseSignal.id)))


async def build(
    *, session: AsyncSession, market: str, day: date, rules: bidding.MarketRules, now: datetime, exchange: str
) -> tuple[BidSubmission, list[bidding.DevicePlan], list[datetime]]:
    """Build and store the day's decisions and bids (status "built"), with the plans they came from."""
    record = await price_service.get_market(session=session, code=market)
    hours = day_periods(day, record.timezone, 60)
    forecast = await hourly_forecast(session=session, market=market, hours=hours, now=now)
    plans = await device_plans(session=session, hours=hours, now=now)
    if not plans:
        raise BiddingInputsMissing(f"no active device has a plan for {market} on {day}: optimize the fleet first")
    signals = await _events(session=session, market=market, start=hours[0], end=hours[-1] + HOUR)
    events = [
        bidding.DemandResponseEvent(s.id, bidding.DemandResponseKind(s.kind), s.start, s.end, s.requested_mw)
        for s in signals
    ]
    response = bidding.apply_demand_response(plans, hours, events)
    decisions = bidding.build_bids(
        plans=response.plans, hours=hours, forecast=forecast, rules=rules, responses=response.responses
    )
    submission = BidSubmission(
        market=market,
        day=day,
        idempotency_key=f"{market}:{day.isoformat()}:{uuid.uuid4().hex[:16]}",
        exchange=exchange,
        status="built",
        attempts=0,
        rules=_rules_json(rules),
        created_at=now,
    )
    session.add(submission)
    await session.flush()
    for decision in decisions:
        session.add(
            HourlyDecision(
                submission_id=submission.id,
                delivery_start=decision.delivery_start,
                action=decision.action.value,
                position_mw=decision.position_mw,
                forecast_price=decision.forecast_price,
                reason=decision.reason[:1000],
                demand_response_event_id=decision.demand_response.event_id if decision.demand_response else None,
            )
        )
        if decision.bid is not None:
            session.add(
                StoredBid(
                    submission_id=submission.id,
                    delivery_start=decision.bid.delivery_start,
                    side=decision.bid.side.value,
                    quantity_mw=decision.bid.quantity_mw,
                    limit_price=decision.bid.limit_price,
                    forecast_price=decision.forecast_price,
                )
            )
    await session.flush()
    return submission, response.plans, hours


def _rules_json(rules: bidding.MarketRules) -> dict[str, float | None]:
    """The rules as stored (an infinite capacity as null: JSON has no infinity)."""
    values = dataclasses.asdict(rules)
    return {k: (None if v == float("inf") else v) for k, v in values.items()}


async def run(
    *,
    session: AsyncSession,
    market: str,
    day: date,
    rules: bidding.MarketRules,
    adapter: bidding.MarketAdapter,
    exchange: str,
    sleep: bidding.exchange.Sleep,
    policy: SchedulePolicy,
    now: datetime,
    attempts: int = 4,
) -> RunResult:
    """Build (or resume) the day's submission, send it under its key, store the outcomes, update the schedules.

    A day already submitted is not sent again. A failed or unsent one is resent with its stored bids and key,
    so an exchange that booked it before the failure does not book it twice.
    """
    submission = await session.scalar(
        select(BidSubmission).where(BidSubmission.market == market, BidSubmission.day == day)
    )
    if submission is not None and submission.status == "submitted":
        return RunResult(submission.id, submission.status, False, 0, 0, 0, None)
    if submission is None:
        submission, plans, hours = await build(
            session=session, market=market, day=day, rules=rules, now=now, exchange=exchange
        )
    else:
        record = await price_service.get_market(session=session, code=market)
        hours = day_periods(day, record.timezone, 60)
        plans = await _current_plans(session=session, market=market, hours=hours, now=now)
    bids = list(
        await session.scalars(
            select(StoredBid).where(StoredBid.submission_id == submission.id).order_by(StoredBid.delivery_start)
        )
    )
    order = bidding.Submission(
        submission.idempotency_key,
        market,
        tuple(bidding.Bid(b.delivery_start, bidding.Side(b.side), b.quantity_mw, b.limit_price) for b in bids),
    )
    try:
        result, tries = await bidding.submit_with_retries(adapter, order, sleep=sleep, attempts=attempts)
    except (bidding.SubmissionFailed, bidding.SubmissionRefused) as exc:
        submission.attempts += getattr(exc, "attempts", 1)
        submission.status, submission.error = "failed", str(exc)[:1000]
        await session.flush()
        return RunResult(submission.id, "failed", True, 0, 0, 0, submission.error)
    submission.attempts += tries
    submission.status, submission.error, submission.submitted_at = "submitted", None, now
    accepted = {hour: 0.0 for hour in hours}
    for bid, acceptance in zip(bids, result.acceptances, strict=True):
        session.add(
            BidOutcome(
                bid_id=bid.id,
                accepted_mw=acceptance.accepted_mw,
                clearing_price=acceptance.clearing_price,
                recorded_at=now,
            )
        )
        accepted[bid.delivery_start] = acceptance.accepted_mw * (1.0 if bid.side == "buy" else -1.0)
    await session.flush()
    delivery = bidding.apply_acceptance(plans, [accepted[hour] for hour in hours])
    updated, rejected = await _resubmit(
        session=session, before=plans, after=delivery.plans, hours=hours, policy=policy, now=now
    )
    shortfall = sum(1 for value in delivery.shortfall_mw if abs(value) > 1e-6)
    return RunResult(submission.id, "submitted", True, updated, rejected, shortfall, None)


async def _current_plans(
    *, session: AsyncSession, market: str, hours: list[datetime], now: datetime
) -> list[bidding.DevicePlan]:
    """The plans a resumed submission feeds back into: the fleet's plans again, after the day's events."""
    plans = await device_plans(session=session, hours=hours, now=now)
    signals = await _events(session=session, market=market, start=hours[0], end=hours[-1] + HOUR)
    events = [
        bidding.DemandResponseEvent(s.id, bidding.DemandResponseKind(s.kind), s.start, s.end, s.requested_mw)
        for s in signals
    ]
    return bidding.apply_demand_response(plans, hours, events).plans


async def _resubmit(
    *,
    session: AsyncSession,
    before: list[bidding.DevicePlan],
    after: list[bidding.DevicePlan],
    hours: list[datetime],
    policy: SchedulePolicy,
    now: datetime,
) -> tuple[int, int]:
    """Send every changed device plan to the fleet as the "market" actor; returns (stored, refused)."""
    raws = [
        schedule
        for old, new in zip(before, after, strict=True)
        if old.planned_mw != new.planned_mw and (schedule := bidding.schedule_json(new, hours)) is not None
    ]
    if not raws:
        return 0, 0
    try:
        batch = await fleet_schedules.submit(
            session=session,
            raws=raws,
            actor=MARKET_ACTOR,
            now=now,
            policy=policy,
            batch=True,
            partial=True,
            source="market",
        )
    except ScheduleRejected:
        return 0, len(raws)
    return len(batch.accepted), len(batch.rejected)


async def day_report(*, session: AsyncSession, market: str, day: date) -> BidDayOut:
    """The market-day's submission with its bids, outcomes and decisions, or BidsNotFound."""
    submission = await session.scalar(
        select(BidSubmission).where(BidSubmission.market == market, BidSubmission.day == day)
    )
    if submission is None:
        raise BidsNotFound(f"no bids of {market} for {day.isoformat()}: run `gridpilot bids run` first")
    rows = await session.execute(
        select(StoredBid, BidOutcome)
        .outerjoin(BidOutcome, BidOutcome.bid_id == StoredBid.id)
        .where(StoredBid.submission_id == submission.id)
        .order_by(StoredBid.delivery_start)
    )
    bids = [
        BidOut(
            delivery_start=bid.delivery_start,
            side=bidding.Side(bid.side),
            quantity_mw=bid.quantity_mw,
            limit_price=bid.limit_price,
            forecast_price=bid.forecast_price,
            accepted_mw=outcome.accepted_mw if outcome else None,
            clearing_price=outcome.clearing_price if outcome else None,
        )
        for bid, outcome in rows
    ]
    decisions = await session.scalars(
        select(HourlyDecision)
        .where(HourlyDecision.submission_id == submission.id)
        .order_by(HourlyDecision.delivery_start)
    )
    return BidDayOut(
        market=market,
        day=day,
        submission_id=submission.id,
        idempotency_key=submission.idempotency_key,
        exchange=submission.exchange,
        status=submission.status,
        attempts=submission.attempts,
        error=submission.error,
        created_at=submission.created_at,
        submitted_at=submission.submitted_at,
        accepted_buy_mwh=round(sum(b.accepted_mw or 0.0 for b in bids if b.side is bidding.Side.BUY), 6),
        accepted_sell_mwh=round(sum(b.accepted_mw or 0.0 for b in bids if b.side is bidding.Side.SELL), 6),
        bids=bids,
        decisions=[
            DecisionOut(
                delivery_start=d.delivery_start,
                action=bidding.Action(d.action),
                position_mw=d.position_mw,
                forecast_price=d.forecast_price,
                reason=d.reason,
                demand_response_event_id=d.demand_response_event_id,
            )
            for d in decisions
        ],
    )
