"""Between fleet devices and the optimizer: batteries, problems, and the plan's SoC recomputed from a schedule.

Pure: plain data in and out. Every plan a fleet run stores ends its day at a known SoC (`end_soc_pct`), so
the plan's SoC at any moment is that end SoC less what the remaining intervals add: nothing else is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gridpilot.market.dispatch import Battery, DispatchProblem
from gridpilot.market.dispatch.battery import FloatArray
from gridpilot.protocol import BatteryLimits, Interval, soc_change_pct

MARKET_TAG_PREFIX = "market:"


def market_tag(market: str) -> str:
    """The device tag that puts a device in a market's fleet, e.g. 'market:NP'."""
    return f"{MARKET_TAG_PREFIX}{market}"


@dataclass(frozen=True, slots=True)
class FleetDevice:
    """What the optimizer needs of one device: its battery, the SoC its plan starts from, and where it must end."""

    id: str
    battery: Battery
    soc_pct: float
    soc_at: datetime
    end_soc_pct: float | None = None
    """Where the plan must leave the battery at the day's end when the next day's plan needs it (else end_soc_pct())."""


def battery_of(limits: BatteryLimits, *, degradation_cost_per_mwh: float = 0.0) -> Battery:
    """The optimizer's battery for a device's limits."""
    return Battery(
        capacity_kwh=limits.capacity_kwh,
        max_charge_kw=limits.max_charge_kw,
        max_discharge_kw=limits.max_discharge_kw,
        charge_efficiency=limits.charge_efficiency,
        discharge_efficiency=limits.discharge_efficiency,
        min_soc_pct=limits.min_soc_pct,
        max_soc_pct=limits.max_soc_pct,
        degradation_cost_per_mwh=degradation_cost_per_mwh,
    )


def end_soc_pct(battery: Battery, configured: float | None) -> float:
    """The SoC a day's plan ends at: the configured one kept within the device's range, else the range's middle."""
    if configured is None:
        return (battery.min_soc_pct + battery.max_soc_pct) / 2.0
    return min(max(configured, battery.min_soc_pct), battery.max_soc_pct)


def problem_for(
    device: FleetDevice, *, prices: FloatArray, step_minutes: float, end_soc: float | None
) -> DispatchProblem:
    """The device's problem over the given prices, from its measured SoC to the day's end SoC."""
    return DispatchProblem(
        battery=device.battery,
        prices_per_mwh=prices,
        step_minutes=step_minutes,
        initial_soc_pct=device.soc_pct,
        final_soc_pct=end_soc_pct(device.battery, end_soc if device.end_soc_pct is None else device.end_soc_pct),
    )


def planned_soc_pct(
    intervals: Sequence[Interval], *, limits: BatteryLimits, at: datetime, day_end: datetime, end_soc: float
) -> float:
    """The plan's SoC at `at`: the day's end SoC less what the intervals add between `at` and the day's end."""
    remaining = 0.0
    for interval in intervals:
        start, end = max(interval.start, at), min(interval.end, day_end)
        if start < end:
            remaining += soc_change_pct(interval._replace(start=start, end=end), limits)
    return end_soc - remaining
