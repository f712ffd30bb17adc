"""What the bidding engine needs from storage: the day's forecast, and every active device's plan from the fleet."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.fleet import schedules as fleet_schedules
from gridpilot.fleet import service as fleet_service
from gridpilot.market.bidding import DevicePlan
from gridpilot.market.exceptions import BiddingInputsMissing
from gridpilot.market.models import ForecastPrediction

HOUR = timedelta(hours=1)
_PAGE = 1000
_NO_LIVENESS = fleet_service.Liveness(offline_after=timedelta(days=1), link_grace=timedelta(days=1))


async def hourly_forecast(*, session: AsyncSession, market: str, hours: list[datetime], now: datetime) -> list[float]:
    """Each hour's price as last forecast before `now` (sub-hourly periods averaged), or BiddingInputsMissing."""
    rows = await session.execute(
        select(ForecastPrediction.delivery_start, ForecastPrediction.price)
        .where(
            ForecastPrediction.market == market,
            ForecastPrediction.delivery_start >= hours[0],
            ForecastPrediction.delivery_start < hours[-1] + HOUR,
            ForecastPrediction.issued_at <= now,
        )
        .order_by(ForecastPrediction.issued_at, ForecastPrediction.id)
    )
    latest: dict[datetime, float] = {}
    for start, price in rows:
        latest[start] = price  # later issues overwrite earlier ones
    by_hour: dict[datetime, list[float]] = defaultdict(list)
    for start, price in latest.items():
        by_hour[hours[0] + (start - hours[0]) // HOUR * HOUR].append(price)
    missing = [hour for hour in hours if hour not in by_hour]
    if missing:
        raise BiddingInputsMissing(
            f"no forecast of {market} for {len(missing)} of {len(hours)} hour(s), first {missing[0].isoformat()}: "
            "serve one first (POST /api/v1/market/forecast)",
            errors=[{"parameter": "query:day", "code": "no_forecast", "detail": hour.isoformat()} for hour in missing],
        )
    return [math.fsum(by_hour[hour]) / len(by_hour[hour]) for hour in hours]


async def device_plans(*, session: AsyncSession, hours: list[datetime], now: datetime) -> list[DevicePlan]:
    """Every active device with a planned interval in the hours, its schedule averaged to hourly MW.

    The day starts from the SoC expected at its first hour (the newest reading run on through the stored
    plan, as the fleet validator and the optimizer see it), or mid-range if the device never reported one.
    """
    plans: list[DevicePlan] = []
    after: str | None = None
    while True:
        devices = await fleet_service.list_devices(
            session=session, now=now, liveness=_NO_LIVENESS, limit=_PAGE, after_id=after
        )
        if not devices:
            return plans
        after = devices[-1].id
        views = await fleet_schedules.device_views(session=session, device_ids=[d.id for d in devices], now=now)
        expected = await fleet_schedules.expected_device_socs(
            session=session, devices=devices, at=dict.fromkeys((d.id for d in devices), hours[0])
        )
        by_id = {view.device_id: view for view in views}
        for device in devices:
            view = by_id.get(device.id)
            mw = [0.0] * len(hours)
            for interval in view.intervals if view is not None else []:
                sign = 1.0 if interval.mode == 1 else -1.0
                for index, hour in enumerate(hours):
                    overlap = (min(interval.end, hour + HOUR) - max(interval.start, hour)) / HOUR
                    if overlap > 0:
                        mw[index] += sign * interval.rate_kw / 1000.0 * overlap
            if any(abs(value) >= 1e-6 for value in mw):
                soc = expected.get(device.id)
                plans.append(
                    DevicePlan(
                        device_id=device.id,
                        planned_mw=tuple(round(value, 6) for value in mw),
                        capacity_mwh=device.capacity_kwh / 1000.0,
                        max_charge_mw=device.max_charge_kw / 1000.0,
                        max_discharge_mw=device.max_discharge_kw / 1000.0,
                        initial_soc_pct=soc if soc is not None else (device.min_soc_pct + device.max_soc_pct) / 2,
                        min_soc_pct=device.min_soc_pct,
                        max_soc_pct=device.max_soc_pct,
                        charge_efficiency=device.charge_efficiency,
                        discharge_efficiency=device.discharge_efficiency,
                    )
                )
