"""Market request and response bodies: prices, forecasts, models, forecast errors, bids and demand response."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from gridpilot.market.bidding import Action, DemandResponseKind, Side
from gridpilot.timeutil import UtcDateTime

MarketCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", examples=["NP"])]
FinitePrice = Annotated[float, Field(strict=True, ge=-1e6, le=1e6, allow_inf_nan=False)]  # strict: no true, no "3"


def _iso_day(value: Any) -> Any:
    """Refuse what lax parsing would take for a day: a number (read as Unix seconds) or a boolean."""
    if isinstance(value, str | date):
        return value
    raise PydanticCustomError("date_type", "Input should be an ISO date string (YYYY-MM-DD)")


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


class PriceIn(BaseModel):
    """One delivery period's price."""

    model_config = ConfigDict(extra="forbid")

    delivery_start: UtcDateTime = Field(
        description="RFC 3339 with an offset; from 2000-01-01T00:00:00Z to five years after now (later or earlier "
        "starts are refused as implausible)"
    )
    price: FinitePrice = Field(description="A JSON number (not a string or a boolean), at most 1e6 in magnitude")


class PriceBatchIn(BaseModel):
    """Prices of one market from one source; a new market is registered with `timezone`."""

    model_config = ConfigDict(extra="forbid")

    market: MarketCode
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the market's delivery days; needed for a new market, refused if it differs from "
        "an existing market's",
    )
    resolution_minutes: int = Field(default=60, ge=1, le=1440)
    currency: str | None = Field(
        default=None,
        min_length=1,
        max_length=8,
        description="default: the market's (EUR for a new market); another than the stored prices' is refused",
    )
    unit: str | None = Field(
        default=None,
        max_length=16,
        description="default: the market's (CURRENCY/MWh for a new market); another than the stored prices' is refused",
    )
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
    day: IsoDay = Field(
        description="The delivery day (YYYY-MM-DD) in the market's time zone; from 2000-01-01, and at most the day "
        "after the latest stored prices"
    )


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


class DemandResponseIn(BaseModel):
    """A grid operator's request for the delivery hours starting in [start, end)."""

    model_config = ConfigDict(extra="forbid")

    market: MarketCode
    kind: DemandResponseKind
    start: UtcDateTime = Field(description="RFC 3339 with an offset; on a whole hour")
    end: UtcDateTime = Field(description="RFC 3339 with an offset; on a whole hour, after start")
    requested_mw: float | None = Field(
        default=None,
        gt=0,
        le=1e5,
        allow_inf_nan=False,
        description="How far to lower the portfolio's net position below the plan; omitted: as far as possible",
    )
    source: str = Field(default="api", min_length=1, max_length=200)


class DemandResponseOut(BaseModel):
    """A stored demand-response event."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    market: str
    kind: DemandResponseKind
    start: datetime
    end: datetime
    requested_mw: float | None
    source: str
    created_by: str
    created_at: datetime


class BidOut(BaseModel):
    """One hourly bid and, once cleared, what the exchange accepted."""

    delivery_start: datetime
    side: Side
    quantity_mw: float
    limit_price: float
    forecast_price: float
    accepted_mw: float | None = Field(description="None until the exchange answered")
    clearing_price: float | None


class DecisionOut(BaseModel):
    """The storage decision of one delivery hour and its reason."""

    delivery_start: datetime
    action: Action
    position_mw: float = Field(description="The portfolio's planned net position: + buying, − selling")
    forecast_price: float
    reason: str
    demand_response_event_id: int | None


class BidDayOut(BaseModel):
    """A market-day's submission: its bids with their outcomes and every hour's decision."""

    market: str
    day: date
    submission_id: int
    idempotency_key: str
    exchange: str
    status: str = Field(description="built, submitted or failed (a rerun resends under the same key)")
    attempts: int
    error: str | None
    created_at: datetime
    submitted_at: datetime | None
    accepted_buy_mwh: float
    accepted_sell_mwh: float
    bids: list[BidOut]
    decisions: list[DecisionOut]
