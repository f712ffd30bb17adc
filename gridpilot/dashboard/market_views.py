"""What the market page shows, read (never written) from the market's and the fleet's services.

Revenue is the money the exchange settled: for every accepted bid, accepted MW x 1 h x clearing price,
sales counted positive and purchases negative. Value captured compares it with perfect foresight: what
the same fleet (one battery with the fleet's summed capacity and power) would have earned trading each
day on its actual prices, and with what planning on the served forecast would have earned at those prices
(`market.evaluation`). The fleet of a market is its devices tagged `market:CODE`, or every active device
when none is tagged (the bidding service plans with every active device).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as device_service
from gridpilot.market import bidding_service, registry
from gridpilot.market import service as price_service
from gridpilot.market.dispatch import Battery
from gridpilot.market.evaluation import STANDARD_BATTERY, evaluate_arbitrage
from gridpilot.market.exceptions import BidsNotFound
from gridpilot.market.fleet_plans import market_tag
from gridpilot.market.models import ForecastPrediction, Price
from gridpilot.market.series import day_bounds

HOUR = timedelta(hours=1)
MAX_DAYS = 31
_NO_LIVENESS = device_service.Liveness(offline_after=timedelta(days=1), link_grace=timedelta(days=1))


@dataclass
class Fleet:
    """The devices whose plans count as the market's positions, and how they were chosen."""

    device_ids: list[str]
    tagged: bool
    battery: Battery | None


@dataclass
class MarketView:
    """Everything the market page draws for one market and day range."""

    market: str
    timezone: str
    first_day: date
    last_day: date
    currency: str = ""
    unit: str = ""
    prices: dict[str, list[Any]] = field(default_factory=dict)
    forecast_points: int = 0
    daily: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, list[Any]] = field(default_factory=dict)
    bids: list[dict[str, Any]] = field(default_factory=list)
    bid_days: list[dict[str, Any]] = field(default_factory=list)
    fleet: Fleet | None = None
    value: dict[str, Any] = field(default_factory=dict)


async def latest_price_day(*, session: AsyncSession, market: str, timezone: str, now: datetime) -> date | None:
    """The market-local day of the market's latest stored price (where a default range ends)."""
    latest = await session.scalar(
        select(func.max(Price.delivery_start)).where(Price.market == market, price_service.plausible_delivery(now=now))
    )
    return None if latest is None else latest.astimezone(ZoneInfo(timezone)).date()


async def forecasts(
    *, session: AsyncSession, market: str, resolution_minutes: int, start: datetime, end: datetime
) -> dict[datetime, float]:
    """Each period's price as last forecast before the period began (the rule forecast errors are scored by)."""
    rows = await session.execute(
        select(ForecastPrediction.delivery_start, ForecastPrediction.price, ForecastPrediction.issued_at)
        .where(
            ForecastPrediction.market == market,
            ForecastPrediction.resolution_minutes == resolution_minutes,
            ForecastPrediction.delivery_start >= start,
            ForecastPrediction.delivery_start < end,
        )
        .order_by(ForecastPrediction.issued_at, ForecastPrediction.id)
    )
    found: dict[datetime, float] = {}
    for delivery_start, price, issued_at in rows:
        if issued_at <= delivery_start:
            found[delivery_start] = price  # later issues overwrite earlier ones
    return found


async def market_fleet(*, session: AsyncSession, market: str, now: datetime) -> Fleet:
    """The market's tagged devices, else every active device; with one battery standing for all of them."""
    for tag in (market_tag(market), None):
        devices = []
        after: str | None = None
        while True:
            page = await device_service.list_devices(
                session=session, now=now, liveness=_NO_LIVENESS, limit=1000, after_id=after, tag=tag
            )
            devices.extend(page)
            if len(page) < 1000:
                break
            after = page[-1].id
        if devices:
            limits = [device_service.battery_limits(d) for d in devices]
            return Fleet([d.id for d in devices], tag is not None, combined_battery(limits))
    return Fleet([], False, None)


def combined_battery(limits: Sequence[Any]) -> Battery | None:
    """One battery for a fleet: summed capacity and power, the lowest efficiencies, the narrowest SoC range."""
    try:
        return Battery(
            capacity_kwh=math.fsum(x.capacity_kwh for x in limits),
            max_charge_kw=math.fsum(x.max_charge_kw for x in limits),
            max_discharge_kw=math.fsum(x.max_discharge_kw for x in limits),
            charge_efficiency=min(x.charge_efficiency for x in limits),
            discharge_efficiency=min(x.discharge_efficiency for x in limits),
            min_soc_pct=max(x.min_soc_pct for x in limits),
            max_soc_pct=min(x.max_soc_pct for x in limits),
        )
    except ValueError:
        return None


async def market_view(
    *, session: AsyncSession, market: str, timezone: str, first_day: date, last_day: date, now: datetime
) -> MarketView:
    """Prices against forecasts, daily forecast error, planned positions, bids, revenue and value captured."""
    view = MarketView(market, timezone, first_day, last_day)
    start, end = day_bounds(first_day, timezone)[0], day_bounds(last_day, timezone)[1]
    model = await registry.current(session=session, market=market)
    resolution = model.resolution_minutes if model is not None else 60
    rows = await price_service.read_prices(
        session=session, market=market, start=start, end=end, resolution_minutes=resolution
    )
    actual = {row.delivery_start: row.price for row in rows}
    if rows:
        view.currency, view.unit = rows[0].currency, rows[0].unit
    forecast = await forecasts(session=session, market=market, resolution_minutes=resolution, start=start, end=end)
    view.forecast_points = len(forecast)
    times = sorted(set(actual) | set(forecast))
    view.prices = {
        "times": [t.isoformat() for t in times],
        "actual": [actual.get(t) for t in times],
        "forecast": [forecast.get(t) for t in times],
    }
    view.fleet = await market_fleet(session=session, market=market, now=now)
    planned = await schedule_service.planned_intervals(
        session=session, device_ids=view.fleet.device_ids, start=start, end=end
    )
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    reports = []
    for day in days:
        try:
            reports.append(await bidding_service.day_report(session=session, market=market, day=day))
        except BidsNotFound:
            continue
    view.bids = [
        {
            "time": b.delivery_start.isoformat(),
            "side": b.side.value,
            "quantity_mw": b.quantity_mw,
            "limit_price": b.limit_price,
            "accepted_mw": b.accepted_mw,
            "clearing_price": b.clearing_price,
        }
        for report in reports
        for b in report.bids
    ]
    view.bid_days = [
        {
            "day": r.day.isoformat(),
            "status": r.status,
            "bids": len(r.bids),
            "exchange": r.exchange,
            "accepted_buy_mwh": r.accepted_buy_mwh,
            "accepted_sell_mwh": r.accepted_sell_mwh,
            "revenue": bid_revenue((b.side.value, b.accepted_mw, b.clearing_price) for b in r.bids),
        }
        for r in reports
    ]
    positions = hourly_positions(planned, start=start, end=end)
    bid_positions = {d.delivery_start: d.position_mw for r in reports for d in r.decisions}
    view.positions = {
        **positions,
        "bid_position_mw": [bid_positions.get(datetime.fromisoformat(t)) for t in positions["times"]],
    }
    view.daily = daily_figures(days, timezone, actual, forecast, view.bid_days)
    view.value = value_captured(actual, forecast, timezone, view.fleet.battery, view.daily)
    return view


def bid_revenue(bids: Iterable[tuple[str, float | None, float | None]]) -> float | None:
    """Sales minus purchases at the clearing price, for hour-long bids (MW x 1 h = MWh); None before any outcome."""
    total, settled = 0.0, False
    for side, accepted_mw, clearing_price in bids:
        if accepted_mw is None or clearing_price is None:
            continue
        settled = True
        total += (1.0 if side == "sell" else -1.0) * accepted_mw * clearing_price
    return round(total, 2) if settled else None


def hourly_positions(
    planned: Iterable[tuple[str, datetime, datetime, int, float]], *, start: datetime, end: datetime
) -> dict[str, list[Any]]:
    """Planned charge (positive) and discharge (negative) per hour in MWh, summed over the fleet."""
    hours = int((end - start) / HOUR)
    charge, discharge = [0.0] * hours, [0.0] * hours
    for _, first, last, mode, rate_kw in planned:
        index = max(0, int((first - start) / HOUR))
        while index < hours:
            hour = start + index * HOUR
            if hour >= last:
                break
            overlap = (min(last, hour + HOUR) - max(first, hour)) / HOUR
            if overlap > 0:
                target = charge if mode == 1 else discharge
                target[index] += rate_kw / 1000.0 * overlap
            index += 1
    return {
        "times": [(start + i * HOUR).isoformat() for i in range(hours)],
        "charge_mwh": [round(v, 6) for v in charge],
        "discharge_mwh": [-round(v, 6) for v in discharge],
    }


def daily_figures(
    days: Sequence[date],
    timezone: str,
    actual: dict[datetime, float],
    forecast: dict[datetime, float],
    bid_days: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Per market day: forecast MAE (periods with both prices), bid revenue and its running total."""
    zone = ZoneInfo(timezone)
    errors: dict[date, list[float]] = defaultdict(list)
    for moment, predicted in forecast.items():
        if moment in actual:
            errors[moment.astimezone(zone).date()].append(abs(predicted - actual[moment]))
    revenue = {d["day"]: d["revenue"] for d in bid_days}
    out: list[dict[str, Any]] = []
    cumulative, started = 0.0, False
    for day in days:
        scored = errors.get(day, [])
        earned = revenue.get(day.isoformat())
        if earned is not None:
            cumulative, started = cumulative + earned, True
        out.append(
            {
                "day": day.isoformat(),
                "mae": round(math.fsum(scored) / len(scored), 3) if scored else None,
                "periods": len(scored),
                "revenue": earned,
                "cumulative": round(cumulative, 2) if started else None,
            }
        )
    return out


def value_captured(
    actual: dict[datetime, float],
    forecast: dict[datetime, float],
    timezone: str,
    battery: Battery | None,
    daily: list[dict[str, Any]],
) -> dict[str, Any]:
    """Per complete day: the bid revenue and the forecast plan against perfect foresight, for the fleet's battery."""
    if len(actual) < 2:
        return {}
    used = battery or STANDARD_BATTERY
    index = pd.DatetimeIndex(sorted(actual)).tz_convert(timezone)
    real = pd.Series([actual[t] for t in sorted(actual)], index=index, dtype=float)
    predicted = pd.Series([forecast.get(t, math.nan) for t in sorted(actual)], index=index, dtype=float)
    try:
        perfect = evaluate_arbitrage(real, real, battery=used).days
        planned = evaluate_arbitrage(real, predicted, battery=used).days if forecast else None
    except ValueError:
        return {}
    revenue = {d["day"]: d["revenue"] for d in daily}
    days = []
    for stamp, row in perfect.iterrows():
        day = pd.Timestamp(stamp).date().isoformat()
        plan = planned["revenue"].get(stamp) if planned is not None else None
        bids = revenue.get(day)
        best = float(row["perfect_revenue"])
        days.append(
            {
                "day": day,
                "perfect": round(best, 2),
                "forecast_plan": None if plan is None or math.isnan(plan) else round(float(plan), 2),
                "bids": bids,
                "bids_share": round(100 * bids / best, 1) if bids is not None and best > 0 else None,
            }
        )
    return {"days": days, "battery": used, "standard": battery is None}
