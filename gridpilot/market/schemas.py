"""Market request and response bodies: prices, forecasts, registered models and forecast errors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from gridpilot.timeutil import UtcDateTime

MarketCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", examples=["NP"])]
FinitePrice = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class PriceIn(BaseModel):
    """One delivery period's price."""

    model_config = ConfigDict(extra="forbid")

    delivery_start: UtcDateTime = Field(description="RFC 3339 with an offset")
    price: FinitePrice


class PriceBatchIn(BaseModel):
    """Prices of one market from one source; a new market is registered with `timezone`."""

    model_config = ConfigDict(extra="forbid")

    market: MarketCode
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA zone of the market's delivery days; needed for a new market"
    )
    resolution_minutes: int = Field(default=60, ge=1, le=1440)
    currency: str = Field(default="EUR", min_length=1, max_length=8)
    unit: str | None = Field(default=None, max_length=16, description="default: CURRENCY/MWh")
    source: str = Field(default="api", min_length=1, max_length=200)
    known_at: UtcDateTime | None = Field(default=None, description="When the source published them; default: now")
    prices: Annotated[list[PriceIn], Field(min_length=1, max_length=100_000)]


class PriceUpsertResult(BaseModel):
    """How the stored prices changed."""

    new: int
    changed: int
    unchanged: int


class PriceOut(BaseModel):
    """A stored price."""

    model_config = ConfigDict(from_attributes=True)

    delivery_start: datetime
    resolution_minutes: int
    price: float
    currency: str
    unit: str
    source: str
    known_at: datetime
    imported_at: datetime


class PricePage(BaseModel):
    """A market's prices in time order."""

    market: str
    items: list[PriceOut]


class ForecastIn(BaseModel):
    """Which market and delivery day to forecast."""

    model_config = ConfigDict(extra="forbid")

    market: MarketCode
    day: date = Field(description="The delivery day, in the market's time zone")


class ForecastPoint(BaseModel):
    """The forecast price of one delivery period."""

    delivery_start: datetime
    price: float


class ForecastOut(BaseModel):
    """A forecast of every period of one delivery day, with the model that made it."""

    market: str
    day: date
    timezone: str
    model_id: int
    model_name: str
    model_version: int
    issued_at: datetime
    resolution_minutes: int
    unit: str
    points: list[ForecastPoint]


class ModelOut(BaseModel):
    """A registered forecast model."""

    model_config = ConfigDict(from_attributes=True, protected_namespaces=())

    id: int
    market: str
    name: str
    version: int
    options: dict[str, Any]
    features: list[str]
    metrics: dict[str, float]
    resolution_minutes: int
    timezone: str
    train_start: datetime
    train_end: datetime
    gridpilot_version: str
    artifact_path: str
    created_at: datetime
    promoted_at: datetime | None
    current: bool = False


class ForecastErrorOut(BaseModel):
    """How far a market's served forecasts were from the actual prices over recent days."""

    market: str
    days: int
    since: datetime
    periods: int = Field(description="Delivery periods with both a forecast issued before them and an actual price")
    mae: float | None
    mean_actual: float | None
    mae_pct_of_mean: float | None = Field(description="MAE as a percentage of the mean absolute actual price")
