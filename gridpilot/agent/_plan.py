"""What the agent should do now: pure decisions about intervals and setpoints, no I/O and no clock.

The controller feeds these functions the stored intervals, the time and the latest
reading; they answer which intervals start, finish or were missed, and the one safe
setpoint to send. Keeping them pure makes every rule testable at any instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gridpilot.agent._store import LocalInterval
from gridpilot.agent.config import DefaultInterval
from gridpilot.agent.drivers.base import Reading, Setpoint
from gridpilot.protocol.battery import BatteryLimits
from gridpilot.protocol.schedule import Interval, Mode


@dataclass(frozen=True, slots=True)
class IntervalPlan:
    """The intervals' fate at one instant."""

    missed: list[LocalInterval] = field(default_factory=list)
    finished: list[LocalInterval] = field(default_factory=list)
    to_start: LocalInterval | None = None
    active: LocalInterval | None = None


def plan_intervals(intervals: list[LocalInterval], now: datetime, grace: timedelta) -> IntervalPlan:
    """Sort open intervals (by start) into missed, finished, the one to start and the one running.

    An interval not started within `grace` of its start is missed: executing it late
    would put energy on the grid at a time nobody planned for.
    """
    missed: list[LocalInterval] = []
    finished: list[LocalInterval] = []
    to_start: LocalInterval | None = None
    active: LocalInterval | None = None
    for interval in intervals:
        if interval.state == "running":
            if interval.end <= now:
                finished.append(interval)
            elif active is None:
                active = interval
            else:
                finished.append(interval)  # two running at once cannot happen; close the later one rather than guess
        elif interval.start > now:
            continue  # not due yet
        elif now - interval.start > grace or interval.end <= now:
            missed.append(interval)
        elif active is None and to_start is None:
            to_start = interval
        else:
            missed.append(interval)
    return IntervalPlan(missed, finished, to_start, active)


def safe_setpoint(
    mode: Mode | None, rate_kw: float, reading: Reading, limits: BatteryLimits, revert_s: float
) -> tuple[Setpoint, str | None]:
    """The setpoint the battery can safely take, and why it differs from what was asked (None if it does not).

    The device's own limits win over any schedule: the rate is capped at the device's
    maximum, and charging stops at max_soc_pct, discharging at min_soc_pct.
    """
    if mode is None:
        return Setpoint(None, 0.0, revert_s), None
    if mode is Mode.CHARGE and reading.soc_pct >= limits.max_soc_pct:
        return Setpoint(None, 0.0, revert_s), (
            f"charging stopped: SoC {reading.soc_pct:.1f} % reached max_soc_pct {limits.max_soc_pct:g} %"
        )
    if mode is Mode.DISCHARGE and reading.soc_pct <= limits.min_soc_pct:
        return Setpoint(None, 0.0, revert_s), (
            f"discharging stopped: SoC {reading.soc_pct:.1f} % reached min_soc_pct {limits.min_soc_pct:g} %"
        )
    ceiling = limits.max_rate_kw(mode)
    if rate_kw > ceiling:
        return Setpoint(mode, ceiling, revert_s), (
            f"rate {rate_kw:g} kW is above the device's maximum {ceiling:g} kW; limited to {ceiling:g} kW"
        )
    return Setpoint(mode, rate_kw, revert_s), None


def fallback_interval(default_schedule: tuple[DefaultInterval, ...], timezone: str, now: datetime) -> Interval | None:
    """The default-schedule interval covering `now` in the device's local time, if any."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    for item in default_schedule:
        start = datetime.combine(local.date(), item.start, zone)
        end_day = local.date() + timedelta(days=1) if item.end.hour == item.end.minute == 0 else local.date()
        end = datetime.combine(end_day, item.end, zone)
        if start <= local < end:
            return Interval(start, end, item.mode, item.rate_kw)
    return None
