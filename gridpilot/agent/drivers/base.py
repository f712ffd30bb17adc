"""The driver interface: what the agent asks of a battery inverter, and what a reading is.

Sign convention everywhere in the agent: power_kw > 0 charges the battery (energy flows
in from the AC side), power_kw < 0 discharges it. rate_kw of a schedule is always positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from gridpilot.protocol.schedule import Mode


class DriverError(Exception):
    """The inverter did not answer, answered nonsense, or refused a command."""


class InverterState(StrEnum):
    """What the inverter reports it is doing."""

    IDLE = "idle"
    CHARGING = "charging"
    DISCHARGING = "discharging"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class Reading:
    """One fresh reading of the battery, stamped with the device clock when it was taken."""

    at: datetime
    soc_pct: float
    power_kw: float
    state: InverterState
    voltage_v: float | None = None
    temperature_c: float | None = None
    soh_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Setpoint:
    """What the inverter should do until the next refresh: charge or discharge at rate_kw, or idle (mode None).

    revert_s: if no new setpoint arrives within this many seconds, the inverter returns to
    idle by itself (the fail-safe for a dead agent). Drivers without such a timer ignore it.
    """

    mode: Mode | None
    rate_kw: float
    revert_s: float

    @property
    def power_kw(self) -> float:
        """The signed power this setpoint asks for (charge positive)."""
        if self.mode is None:
            return 0.0
        return self.rate_kw if self.mode is Mode.CHARGE else -self.rate_kw


class Driver(Protocol):
    """A battery inverter. Every method raises DriverError on failure; none returns stale data."""

    async def connect(self) -> None:
        """Open the connection (idempotent; called again after a failure)."""

    async def read(self) -> Reading:
        """A fresh reading, or DriverError."""

    async def apply(self, setpoint: Setpoint) -> None:
        """Command the setpoint (idle, charge or discharge), with its revert timeout."""

    async def close(self) -> None:
        """Release the connection; never raises."""
