"""Market tables: markets, prices, forecast models and predictions, and the bids with their decisions and outcomes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridpilot.db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER keys


class Market(Base):
    """A bidding zone or price index; its time zone decides which hours make up one of its delivery days."""

    __tablename__ = "markets"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Price(Base):
    """One clearing price of one delivery period; the key makes a re-import an update, never a second row."""

    __tablename__ = "prices"

    market: Mapped[str] = mapped_column(ForeignKey("markets.code", ondelete="CASCADE"), primary_key=True)
    delivery_start: Mapped[datetime] = mapped_column(primary_key=True)
    resolution_minutes: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    price: Mapped[float]
    currency: Mapped[str] = mapped_column(String(8))
    unit: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200))
    known_at: Mapped[datetime]  # published by the source, or first received by gridpilot when the source does not say
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class ForecastModel(Base):
    """A trained model of one market: its artifact on disk and everything needed to trust and reproduce it.

    The market's current model is the one promoted last (`promoted_at`); promoting an older one rolls back.
    """

    __tablename__ = "forecast_models"
    __table_args__ = (
        UniqueConstraint("market", "name", "version"),
        Index("ix_forecast_models_market_promoted_at", "market", "promoted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    market: Mapped[str] = mapped_column(ForeignKey("markets.code", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[list[str]] = mapped_column(JSON)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    resolution_minutes: Mapped[int] = mapped_column(SmallInteger)
    unit: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    train_start: Mapped[datetime]
    train_end: Mapped[datetime]  # the last delivery start the model saw
    gridpilot_version: Mapped[str] = mapped_column(String(32))
    artifact_path: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None]


class ForecastPrediction(Base):
    """One predicted price as it was served, kept to be compared with the actual price once it is known."""

    __tablename__ = "forecast_predictions"
    __table_args__ = (Index("ix_forecast_predictions_market_delivery_start", "market", "delivery_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("forecast_models.id", ondelete="CASCADE"), index=True)
    market: Mapped[str] = mapped_column(String(32))
    delivery_start: Mapped[datetime]
    resolution_minutes: Mapped[int] = mapped_column(SmallInteger)
    price: Mapped[float]
    issued_at: Mapped[datetime]


class BidSubmission(Base):
    """One market-day's bids as sent to an exchange: one per market and day, resent only under its own key."""

    __tablename__ = "bid_submissions"
    __table_args__ = (UniqueConstraint("market", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    market: Mapped[str] = mapped_column(ForeignKey("markets.code", ondelete="CASCADE"))
    day: Mapped[date]
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    exchange: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # built, submitted or failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]


class StoredBid(Base):
    """One hourly order of a submission: side, quantity and limit price, with the forecast it was priced on."""

    __tablename__ = "bids"
    __table_args__ = (UniqueConstraint("submission_id", "delivery_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("bid_submissions.id", ondelete="CASCADE"))
    delivery_start: Mapped[datetime]
    side: Mapped[str] = mapped_column(String(8))
    quantity_mw: Mapped[float]
    limit_price: Mapped[float]
    forecast_price: Mapped[float]


class BidOutcome(Base):
    """What the exchange accepted of one bid, and at what clearing price."""

    __tablename__ = "bid_outcomes"

    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"), primary_key=True)
    accepted_mw: Mapped[float]
    clearing_price: Mapped[float]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class DemandResponseSignal(Base):
    """A grid operator's request for less consumption or more export in a window; it overrides the economics."""

    __tablename__ = "demand_response_events"
    __table_args__ = (Index("ix_demand_response_events_market_start", "market", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    market: Mapped[str] = mapped_column(ForeignKey("markets.code", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime]
    end: Mapped[datetime]
    requested_mw: Mapped[float | None]
    source: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HourlyDecision(Base):
    """The storage decision of one delivery hour (sell, store or consume) and why it was taken."""

    __tablename__ = "market_decisions"
    __table_args__ = (UniqueConstraint("submission_id", "delivery_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("bid_submissions.id", ondelete="CASCADE"))
    delivery_start: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(8))
    position_mw: Mapped[float]
    forecast_price: Mapped[float]
    reason: Mapped[str] = mapped_column(String(1000))
    demand_response_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("demand_response_events.id", ondelete="SET NULL")
    )


class JobLease(Base):
    """Which server process runs a once-per-installation background job, and until when (renewed while it runs)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(160))
    expires_at: Mapped[datetime]
