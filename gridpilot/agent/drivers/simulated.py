"""A simulated battery: SoC integrates the commanded power with efficiencies; cells stop at 0 and 100 %.

The configured min/max SoC are not enforced here (a real battery does not know them
either): keeping within them is the agent's job, and tests prove it does.

Used where no inverter is wired (development, the demo, tests of the agent's logic). Time
comes from the injected clock, so a test can move it; optional noise makes readings look real.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from gridpilot.agent.drivers.base import InverterState, Reading, Setpoint
from gridpilot.protocol.battery import BatteryLimits
from gridpilot.protocol.schedule import Mode

_NOMINAL_VOLTAGE_V = 400.0


class SimulatedBattery:
    """The Driver protocol on a physical model; revert timers behave like a real inverter's."""

    def __init__(
        self,
        limits: BatteryLimits,
        *,
        now: Callable[[], datetime],
        soc_pct: float = 50.0,
        noise: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self._limits = limits
        self._now = now
        self._soc_pct = soc_pct
        self._noise = noise
        self._random = random.Random(seed)  # noqa: S311 - measurement noise, not security
        self._setpoint = Setpoint(None, 0.0, 0.0)
        self._commanded_at: datetime | None = None
        self._updated_at = now()

    async def connect(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release."""

    async def apply(self, setpoint: Setpoint) -> None:
        """Take the new setpoint from now on."""
        self._advance()
        self._setpoint = setpoint
        self._commanded_at = self._now()

    async def read(self) -> Reading:
        """The state after integrating the power since the last call."""
        self._advance()
        power = self._power_kw()
        noise = self._random.gauss(0.0, self._noise) if self._noise else 0.0
        state = InverterState.CHARGING if power > 0 else InverterState.DISCHARGING if power < 0 else InverterState.IDLE
        return Reading(
            at=self._updated_at,
            soc_pct=self._soc_pct,
            power_kw=power + (noise if power else 0.0),
            state=state,
            voltage_v=_NOMINAL_VOLTAGE_V * (0.9 + 0.2 * self._soc_pct / 100.0),
            temperature_c=25.0 + abs(power) / max(self._limits.max_charge_kw, 1e-9) * 5.0,
            soh_pct=100.0,
        )

    def _power_kw(self) -> float:
        """The power actually flowing: the setpoint, capped by the device limits and stopped at the SoC bounds."""
        setpoint = self._setpoint
        if setpoint.mode is Mode.CHARGE and self._soc_pct < 100.0:
            return min(setpoint.rate_kw, self._limits.max_charge_kw)
        if setpoint.mode is Mode.DISCHARGE and self._soc_pct > 0.0:
            return -min(setpoint.rate_kw, self._limits.max_discharge_kw)
        return 0.0

    def _advance(self) -> None:
        now = self._now()
        if (
            self._commanded_at is not None
            and self._setpoint.mode is not None
            and self._setpoint.revert_s > 0
            and (now - self._commanded_at).total_seconds() > self._setpoint.revert_s
        ):
            self._integrate(self._commanded_at.timestamp() + self._setpoint.revert_s - self._updated_at.timestamp())
            self._setpoint = Setpoint(None, 0.0, 0.0)
        else:
            self._integrate((now - self._updated_at).total_seconds())
        self._updated_at = now

    def _integrate(self, seconds: float) -> None:
        if seconds <= 0:
            return
        power = self._power_kw()
        limits = self._limits
        if power > 0:
            change = power * seconds / 3600.0 * limits.charge_efficiency / limits.capacity_kwh * 100.0
            self._soc_pct = min(100.0, self._soc_pct + change)
        elif power < 0:
            change = -power * seconds / 3600.0 / limits.discharge_efficiency / limits.capacity_kwh * 100.0
            self._soc_pct = max(0.0, self._soc_pct - change)
