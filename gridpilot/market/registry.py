"""The model registry: train a model on a market's stored prices, save it under a new version, promote one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot import __version__
from gridpilot.config import Settings
from gridpilot.market import forecasting
from gridpilot.market import service as price_service
from gridpilot.market.exceptions import ModelNotFound, NotEnoughHistory, TrainingFailed
from gridpilot.market.forecasting.base import InsufficientHistoryError, PriceModel
from gridpilot.market.models import ForecastModel, Price
from gridpilot.market.series import local_day, price_series

FEATURES = ["price"]  # input series the models see; exogenous columns join this list when a market has them


@dataclass(frozen=True, slots=True)
class TrainingRequest:
    """What to train: a model kind and its options, on how many of the market's latest days."""

    market: str
    model_name: str
    options: dict[str, Any]
    window_days: int | None = None  # None: every stored price
    holdout_days: int = 7  # the last days kept out of a first fit to measure the model; 0: no metrics
    resolution_minutes: int = 60


async def train(
    *, session: AsyncSession, settings: Settings, request: TrainingRequest, now: datetime, promote: bool
) -> ForecastModel:
    """Fit the model on the stored prices, measure it on held-out days, save it and register the next version."""
    market = await price_service.get_market(session=session, code=request.market)
    first, last = await _price_range(
        session=session, market=market.code, resolution=request.resolution_minutes, now=now
    )
    if first is None or last is None:
        raise NotEnoughHistory(f"market {market.code!r} has no {request.resolution_minutes}-minute prices")
    start = first if request.window_days is None else max(first, last - timedelta(days=request.window_days))
    points = await price_service.price_points(
        session=session,
        market=market.code,
        start=start,
        end=last + timedelta(seconds=1),
        resolution_minutes=request.resolution_minutes,
    )
    prices = price_series(points, market.timezone)
    unit = await session.scalar(
        select(Price.unit).where(Price.market == market.code, Price.delivery_start == last).limit(1)
    )
    metrics = _holdout_metrics(request, prices, market.timezone) if request.holdout_days else {}
    model = _fitted(request, prices)
    version = await _next_version(session=session, market=market.code, name=request.model_name)
    relative = Path(market.code) / f"{request.model_name}-v{version}"
    model.save(settings.model_store / relative)
    record = ForecastModel(
        market=market.code,
        name=request.model_name,
        version=version,
        options=request.options,
        features=list(FEATURES),
        metrics=metrics,
        resolution_minutes=request.resolution_minutes,
        unit=unit or "",
        timezone=market.timezone,
        train_start=points[0][0],
        train_end=points[-1][0],
        gridpilot_version=__version__,
        artifact_path=relative.as_posix(),
        created_at=now,
        promoted_at=now if promote else None,
    )
    session.add(record)
    await session.flush()
    return record


def _fitted(request: TrainingRequest, prices: pd.Series) -> PriceModel:
    """A new model of the requested kind, calibrated on `prices`."""
    try:
        model = forecasting.create_model(request.model_name, **request.options)
        model.fit(prices)
    except InsufficientHistoryError as exc:
        raise NotEnoughHistory(f"{request.model_name}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingFailed(f"{request.model_name} could not be trained: {exc}") from None
    return model


def _holdout_metrics(request: TrainingRequest, prices: pd.Series, timezone: str) -> dict[str, float]:
    """MAE, RMSE and MAE relative to the weekly naive forecast on the last days, fitted without them."""
    last_day = local_day(prices.index[-1].to_pydatetime(), timezone)
    days = [last_day - timedelta(days=k) for k in range(request.holdout_days - 1, -1, -1)]
    first_held = pd.Timestamp(days[0]).tz_localize(prices.index.tz, nonexistent="shift_forward", ambiguous=True)
    model = _fitted(request, prices[prices.index < first_held])
    errors: list[float] = []
    naive_errors: list[float] = []
    for day in days:
        try:
            forecast = model.predict(prices, day)
        except InsufficientHistoryError:
            continue
        actual = prices.reindex(forecast.index)
        weekly = prices.reindex(forecast.index - pd.Timedelta(days=7))
        mask = actual.notna().to_numpy() & weekly.notna().to_numpy() & forecast.notna().to_numpy()
        errors.extend((forecast.to_numpy() - actual.to_numpy())[mask])
        naive_errors.extend((weekly.to_numpy() - actual.to_numpy())[mask])
    if not errors:
        return {}
    error = np.asarray(errors, dtype=np.float64)
    naive_mae = float(np.mean(np.abs(naive_errors)))
    mae = float(np.mean(np.abs(error)))
    rmse = math.sqrt(float(np.mean(error**2)))
    metrics = {"holdout_days": float(len(days)), "holdout_mae": mae, "holdout_rmse": rmse}
    if naive_mae > 0:  # undefined when the weekly naive is exact (a JSON column takes no NaN)
        metrics["holdout_rmae"] = mae / naive_mae
    return metrics


async def _price_range(
    *, session: AsyncSession, market: str, resolution: int, now: datetime
) -> tuple[datetime | None, datetime | None]:
    query = select(func.min(Price.delivery_start), func.max(Price.delivery_start)).where(
        Price.market == market, Price.resolution_minutes == resolution, price_service.plausible_delivery(now=now)
    )
    first, last = (await session.execute(query)).one()
    return first, last


async def _next_version(*, session: AsyncSession, market: str, name: str) -> int:
    query = select(func.max(ForecastModel.version)).where(ForecastModel.market == market, ForecastModel.name == name)
    return int(await session.scalar(query) or 0) + 1


async def get(*, session: AsyncSession, model_id: int) -> ForecastModel:
    """The registered model, or ModelNotFound."""
    record = await session.get(ForecastModel, model_id)
    if record is None:
        raise ModelNotFound(f"no forecast model with id {model_id}")
    return record


async def list_models(*, session: AsyncSession, market: str | None = None) -> list[ForecastModel]:
    """Registered models by market, name and version."""
    query = select(ForecastModel).order_by(ForecastModel.market, ForecastModel.name, ForecastModel.version)
    if market is not None:
        query = query.where(ForecastModel.market == market)
    return list(await session.scalars(query))


async def current(*, session: AsyncSession, market: str) -> ForecastModel | None:
    """The market's current model: the one promoted last."""
    query = (
        select(ForecastModel)
        .where(ForecastModel.market == market, ForecastModel.promoted_at.is_not(None))
        .order_by(ForecastModel.promoted_at.desc(), ForecastModel.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def current_ids(*, session: AsyncSession) -> set[int]:
    """The id of every market's current model."""
    latest = (
        select(ForecastModel.market, func.max(ForecastModel.promoted_at).label("at"))
        .where(ForecastModel.promoted_at.is_not(None))
        .group_by(ForecastModel.market)
        .subquery()
    )
    query = select(ForecastModel.id).join(
        latest, (ForecastModel.market == latest.c.market) & (ForecastModel.promoted_at == latest.c.at)
    )
    return set(await session.scalars(query))


async def promote(*, session: AsyncSession, model_id: int, now: datetime) -> ForecastModel:
    """Make the model its market's current one (promoting an older version rolls back)."""
    record = await get(session=session, model_id=model_id)
    record.promoted_at = now
    await session.flush()
    return record


def load(record: ForecastModel, *, settings: Settings) -> PriceModel:
    """The registered model's saved artifact, ready to predict."""
    return forecasting.load_model(record.name, settings.model_store / record.artifact_path)
