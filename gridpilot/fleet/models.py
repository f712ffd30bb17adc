"""Fleet tables: devices, tags, credentials, versioned schedules, intervals, executions, agent reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridpilot.db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER keys


class Device(Base):
    """A battery and its controller, with the limits schedules must respect."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str | None] = mapped_column(String(200), index=True)
    capacity_kwh: Mapped[float]
    max_charge_kw: Mapped[float]
    max_discharge_kw: Mapped[float]
    min_soc_pct: Mapped[float]
    max_soc_pct: Mapped[float]
    charge_efficiency: Mapped[float]
    discharge_efficiency: Mapped[float]
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decommissioned_at: Mapped[datetime | None]
    last_contact_at: Mapped[datetime | None] = mapped_column(index=True)
    link_offline_since: Mapped[datetime | None]  # its MQTT last will arrived and nothing was heard since
    last_soc_pct: Mapped[float | None]
    last_soc_at: Mapped[datetime | None]
    schedule_version: Mapped[int] = mapped_column(Integer, default=0)

    tags: Mapped[list[DeviceTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="DeviceTag.tag"
    )


class DeviceTag(Base):
    """A free-form label on a device, for filtering (one row per tag)."""

    __tablename__ = "device_tags"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DeviceCredential(Base):
    """A device's secret; only hashes are stored: SHA-256 for the API, a Mosquitto hash for the MQTT broker."""

    __tablename__ = "device_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    broker_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Schedule(Base):
    """One accepted schedule version for a device.

    A newer version supersedes this one from its first interval on: `superseded_from`
    is the earliest such start among newer versions (null while none exists).
    """

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("device_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    version: Mapped[int]
    effective_from: Mapped[datetime]
    superseded_from: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(160))
    source: Mapped[str] = mapped_column(String(32), default="api")
    sent_at: Mapped[datetime | None]  # pushed to the device's channel and confirmed by the broker
    delivered_at: Mapped[datetime | None]  # the device reported this version (or a newer one) in force


class ScheduleInterval(Base):
    """One charge or discharge interval of a schedule, with its execution status."""

    __tablename__ = "schedule_intervals"
    __table_args__ = (Index("ix_schedule_intervals_schedule_id_start", "schedule_id", "start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(BigId, ForeignKey("schedules.id", ondelete="CASCADE"))
    position: Mapped[int]
    start: Mapped[datetime]
    end: Mapped[datetime]
    mode: Mapped[int] = mapped_column(SmallInteger)
    rate_kw: Mapped[float]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_at: Mapped[datetime | None]


class Execution(Base):
    """A device's acknowledgement of one execution; `ack_id` makes replays harmless."""

    __tablename__ = "executions"

    ack_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    interval_id: Mapped[int] = mapped_column(BigId, ForeignKey("schedule_intervals.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    energy_kwh: Mapped[float | None]
    soc_pct: Mapped[float | None]
    message: Mapped[str | None] = mapped_column(String(1000))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # the dashboard's recent failures


class DeviceHeartbeat(Base):
    """The latest heartbeat of a device's agent; an older one arriving late (an outbox replay) is ignored."""

    __tablename__ = "device_heartbeats"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime]
    agent_version: Mapped[str] = mapped_column(String(64))
    schedule_version: Mapped[int | None]
    driver_state: Mapped[str] = mapped_column(String(16))
    fault: Mapped[str | None] = mapped_column(String(1000))
    outbox_depth: Mapped[int]
    outbox_oldest_at: Mapped[datetime | None]
    outbox_acks: Mapped[int]
    outbox_telemetry: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleRejection(Base):
    """A schedule version the device's own validator refused; (device, version, reported_at) makes replays harmless."""

    __tablename__ = "schedule_rejections"
    __table_args__ = (UniqueConstraint("device_id", "version", "reported_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    version: Mapped[int]
    schedule_id: Mapped[int] = mapped_column(BigId, ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    reported_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    violations: Mapped[list[dict[str, str]]] = mapped_column(JSON)
