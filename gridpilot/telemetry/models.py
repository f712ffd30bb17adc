"""Telemetry tables: one row per device and device timestamp."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gridpilot.db import Base, utcnow


class TelemetryPoint(Base):
    """A measurement the device took at `at`; the key makes a replayed point harmless."""

    __tablename__ = "telemetry_points"

    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)
    soc_pct: Mapped[float]
    power_kw: Mapped[float]  # > 0 charging, < 0 discharging
    voltage_v: Mapped[float | None]
    temperature_c: Mapped[float | None]
    soh_pct: Mapped[float | None]
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class TelemetryLatest(Base):
    """Each device's newest point, kept by ingestion so that fleet-wide views read one small row per device.

    Summing the fleet's power from `telemetry_points` would probe the big table once per
    device every second someone watches the dashboard; this table is the same answer at the
    cost of one upsert per device per ingested batch. An older point arriving late (an
    outbox replay) never replaces a newer one.
    """

    __tablename__ = "telemetry_latest"

    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime]
    soc_pct: Mapped[float]
    power_kw: Mapped[float]  # > 0 charging, < 0 discharging
    temperature_c: Mapped[float | None]
    state: Mapped[str] = mapped_column(String(16))
