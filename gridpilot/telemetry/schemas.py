"""Telemetry request and response bodies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from gridpilot.timeutil import UtcDateTime

Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Finite = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class DeviceState(StrEnum):
    """What the battery was doing when the point was taken."""

    IDLE = "idle"
    CHARGING = "charging"
    DISCHARGING = "discharging"
    FAULT = "fault"


class TelemetryPointIn(BaseModel):
    """One measurement, stamped by the device's clock."""

    model_config = ConfigDict(extra="forbid")

    at: UtcDateTime = Field(description="RFC 3339 with an offset; at most 5 minutes ahead of the server clock")
    soc_pct: Percent
    power_kw: Finite = Field(description="> 0 charging, < 0 discharging")
    state: DeviceState
    voltage_v: Finite | None = None
    temperature_c: Finite | None = None
    soh_pct: Percent | None = None


class TelemetryBatchIn(BaseModel):
    """A batch of points from one device, in any order."""

    model_config = ConfigDict(extra="forbid")

    points: Annotated[list[TelemetryPointIn], Field(min_length=1, max_length=10_000)]


class TelemetryResult(BaseModel):
    """How a batch was taken: new points, and points already stored (replays)."""

    accepted: int
    duplicates: int


class TelemetryPointOut(BaseModel):
    """A stored point."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    soc_pct: float
    power_kw: float
    state: str
    voltage_v: float | None
    temperature_c: float | None
    soh_pct: float | None
    received_at: datetime


class TelemetryPage(BaseModel):
    """Points in time order; ask for the next ones with since=<last at> plus a microsecond."""

    items: list[TelemetryPointOut]
