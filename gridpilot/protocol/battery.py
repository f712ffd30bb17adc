"""The battery model: how charging and discharging move the state of charge.

rate_kw is power at the inverter's AC terminals. Charging stores rate × hours ×
charge_efficiency in the cells; discharging draws rate × hours / discharge_efficiency
from them. SoC does not move between intervals (self-discharge is neglected).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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


def projected_soc_pct(
    soc_pct: float, intervals: Iterable[Interval], limits: BatteryLimits, *, since: datetime, until: datetime
) -> float:
    """The SoC at `until` of a battery that was at soc_pct at `since` and ran the intervals' parts in between.

    Like the agent, a charge stops at max_soc_pct and a discharge at min_soc_pct (a battery already
    beyond a limit stays where it is rather than being pushed further out).
    """
    for interval in sorted(intervals, key=lambda item: item.start):
        start, end = max(interval.start, since), min(interval.end, until)
        if start >= end:
            continue
        change = soc_change_pct(interval._replace(start=start, end=end), limits)
        if change > 0:
            soc_pct = min(soc_pct + change, max(soc_pct, limits.max_soc_pct))
        else:
            soc_pct = max(soc_pct + change, min(soc_pct, limits.min_soc_pct))
    return soc_pct


def newest_soc(
    acked_pct: float | None, acked_at: datetime | None, measured: tuple[float, datetime] | None
) -> tuple[float, datetime] | None:
    """The newer of the SoC in a device's last acknowledgement and its latest telemetry point (SoC, measured at)."""
    acked = (acked_pct, acked_at) if acked_pct is not None and acked_at is not None else None
    if acked is None or measured is None:
        return acked or measured
    return max(acked, measured, key=lambda reading: reading[1])
