"""The battery model: how charging and discharging move the state of charge.

rate_kw is power at the inverter's AC terminals. Charging stores rate × hours ×
charge_efficiency in the cells; discharging draws rate × hours / discharge_efficiency
from them. SoC does not move between intervals (self-discharge is neglected).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gridpilot.protocol.schedule import Interval, Mode


@dataclass(frozen=True, slots=True)
class BatteryLimits:
    """A device's power and energy limits, as the validator and the agent enforce them."""

    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    min_soc_pct: float = 0.0
    max_soc_pct: float = 100.0
    charge_efficiency: float = 1.0
    discharge_efficiency: float = 1.0

    def max_rate_kw(self, mode: Mode) -> float:
        """The highest rate allowed for the mode."""
        return self.max_charge_kw if mode is Mode.CHARGE else self.max_discharge_kw


def soc_change_pct(interval: Interval, limits: BatteryLimits) -> float:
    """How many SoC percentage points the interval adds (charge) or removes (negative, discharge)."""
    return soc_changes_pct((interval,), limits)[0]


def soc_changes_pct(intervals: Iterable[Interval], limits: BatteryLimits) -> list[float]:
    """soc_change_pct of each interval, in one pass (the validator's hot loop)."""
    per_kws_charge = limits.charge_efficiency / limits.capacity_kwh * 100.0 / 3600.0
    per_kws_discharge = -1.0 / limits.discharge_efficiency / limits.capacity_kwh * 100.0 / 3600.0
    return [
        rate_kw * (end - start).total_seconds() * (per_kws_charge if mode is Mode.CHARGE else per_kws_discharge)
        for start, end, mode, rate_kw in intervals
    ]


def soc_after(soc_pct: float, interval: Interval, limits: BatteryLimits) -> float:
    """The SoC at the end of the interval, starting from soc_pct (unclamped: the caller judges it)."""
    return soc_pct + soc_change_pct(interval, limits)


def soc_trajectory(soc_pct: float, intervals: Iterable[Interval], limits: BatteryLimits) -> list[float]:
    """The SoC at the end of each interval, starting from soc_pct."""
    trajectory: list[float] = []
    for interval in intervals:
        soc_pct = soc_after(soc_pct, interval, limits)
        trajectory.append(soc_pct)
    return trajectory
