"""HTTP routes of the market: prices, forecasts and their live error, bids and demand-response events."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gridpilot.auth.dependencies import CurrentAdmin, CurrentOperator
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.market import bidding_service, monitoring, registry, serving
from gridpilot.market import service as price_service
from gridpilot.market.dependencies import KnownMarket, ModelCacheDep
from gridpilot.market.schemas import (
    BidDayOut,
    DemandResponseIn,
    DemandResponseOut,
    ForecastErrorOut,
    ForecastIn,
    ForecastOut,
    ModelOut,
    PriceBatchIn,
    PriceOut,
    PricePage,
    PriceUpsertResult,
)
from gridpilot.timeutil import UtcDateTime

router = APIRouter(prefix="/api/v1/market", tags=["market"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown market"},
    409: {"description": "No current model, or prices missing for the model's inputs (which days are listed)"},
    422: {"description": "Invalid request, or a day out of the forecastable range"},
    503: {"description": "The current model's artifact cannot be loaded"},
}


@router.get("/prices", response_model=PricePage, responses={404: PROBLEMS[404]})
async def list_prices(
    market: KnownMarket,
    _: CurrentOperator,
    session: SessionDep,
    start: Annotated[UtcDateTime, Query(description="Inclusive lower bound on the delivery start")],
    end: Annotated[UtcDateTime, Query(description="Exclusive upper bound on the delivery start")],
    resolution_minutes: Annotated[int | None, Query(ge=1, le=1440)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many prices")] = 10_000,
) -> PricePage:
    """A market's prices in delivery order; page with start=<last delivery start> plus a second."""
    rows = await price_service.read_prices(
        session=session, market=market.code, start=start, end=end, resolution_minutes=resolution_minutes
    )
    return PricePage(market=market.code, items=[PriceOut.model_validate(r) for r in rows[:limit]])


@router.post(
    "/prices",
    response_model=PriceUpsertResult,
    responses={422: {"description": "Refused, nothing stored; every violation listed with its JSON pointer"}},
)
async def upsert_prices(batch: PriceBatchIn, _: CurrentAdmin, session: SessionDep, now: NowDep) -> PriceUpsertResult:
    """Insert or update a market's prices; a re-sent batch changes nothing and says so."""
    result = await price_service.record_batch(session=session, batch_in=batch, now=now)
    await session.commit()
    return PriceUpsertResult(new=result.new, changed=result.changed, unchanged=result.unchanged)


@router.post("/forecast", response_model=ForecastOut, responses=PROBLEMS)
async def forecast(
    body: ForecastIn,
    _: CurrentOperator,
    session: SessionDep,
    settings: SettingsDep,
    cache: ModelCacheDep,
    now: NowDep,
) -> ForecastOut:
    """The current model's forecast of every delivery period of one day; logged to measure its error later."""
    out = await serving.forecast(
        session=session, settings=settings, cache=cache, market=body.market, day=body.day, now=now
    )
    await session.commit()
    return out


@router.get("/forecast-errors", response_model=ForecastErrorOut, responses={404: PROBLEMS[404]})
async def forecast_errors(
    market: KnownMarket,
    _: CurrentOperator,
    session: SessionDep,
    now: NowDep,
    days: Annotated[int, Query(ge=1, le=366, description="How many days back")] = 7,
) -> ForecastErrorOut:
    """MAE of the served forecasts against the actual prices, each period judged by its last forecast before it."""
    return await monitoring.forecast_errors(session=session, market=market.code, days=days, now=now)


@router.get("/models", response_model=list[ModelOut])
async def list_models(
    _: CurrentOperator, session: SessionDep, market: Annotated[str | None, Query(max_length=32)] = None
) -> list[ModelOut]:
    """Registered forecast models; `current` marks each market's served one."""
    records = await registry.list_models(session=session, market=market)
    current = await registry.current_ids(session=session)
    return [ModelOut.model_validate(r).model_copy(update={"current": r.id in current}) for r in records]


@router.get("/bids", response_model=BidDayOut, responses={404: {"description": "Unknown market, or no bids that day"}})
async def day_bids(
    market: KnownMarket,
    _: CurrentOperator,
    session: SessionDep,
    day: Annotated[date, Query(description="The delivery day, in the market's time zone")],
) -> BidDayOut:
    """A market-day's bids with what the exchange accepted, and every hour's storage decision with its reason."""
    return await bidding_service.day_report(session=session, market=market.code, day=day)


@router.post(
    "/demand-response",
    response_model=DemandResponseOut,
    status_code=201,
    responses={404: PROBLEMS[404], 422: {"description": "Refused, nothing stored; every violation listed"}},
)
async def create_demand_response(
    body: DemandResponseIn, actor: CurrentAdmin, session: SessionDep, now: NowDep
) -> DemandResponseOut:
    """Record a request for less consumption or more export; bids built afterwards put it before price."""
    signal = await bidding_service.record_event(session=session, event_in=body, actor=actor, now=now)
    await session.commit()
    return DemandResponseOut.model_validate(signal)
