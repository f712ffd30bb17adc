"""From a plan to the schedule the fleet sends: charge/discharge intervals that the protocol validator accepts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from gridpilot.market.dispatch.battery import Battery
from gridpilot.market.dispatch.result import Dispatch
from gridpilot.protocol import Interval, Mode, Schedule

MIN_STEP = timedelta(seconds=1)


def to_schedule(
    dispatch: Dispatch, *, battery: Battery, device_id: str, start: datetime, rate_decimals: int = 3
) -> Schedule | None:
    """The plan as intervals from start (timezone-aware); None when the battery stays idle throughout.

    Rates are rounded to rate_decimals of a kW (watts by default); steps below that are idle. The
    SoC is followed with the protocol's battery model, and a step that rounding would push past a
    SoC limit is trimmed to end on it, so validate_schedule(..., soc_pct=the initial SoC) accepts it.
    Consecutive steps with the same mode and rate become one interval.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    begin = start.astimezone(UTC)
    step = timedelta(minutes=dispatch.step_minutes)
    if step < MIN_STEP:
        raise ValueError(f"step_minutes must be at least one second, not {dispatch.step_minutes:g}")
    try:
        begin + dispatch.charge_kw.size * step
    except OverflowError:
        raise ValueError(f"start {start.isoformat()} is too late: the plan would end after the year 9999") from None
    seconds = step.total_seconds()
    scale = 10.0**rate_decimals
    charge_pct_per_kw = battery.charge_efficiency / battery.capacity_kwh * 100.0 / 3600.0 * seconds
    discharge_pct_per_kw = 1.0 / battery.discharge_efficiency / battery.capacity_kwh * 100.0 / 3600.0 * seconds
    soc = float(dispatch.soc_pct[0])
    intervals: list[Interval] = []
    for index, net in enumerate((dispatch.charge_kw - dispatch.discharge_kw).tolist()):
        if net > 0:
            mode, ceiling, per_kw = Mode.CHARGE, battery.max_charge_kw, charge_pct_per_kw
            room = battery.max_soc_pct - soc
        else:
            mode, ceiling, per_kw = Mode.DISCHARGE, battery.max_discharge_kw, discharge_pct_per_kw
            room = soc - battery.min_soc_pct
        rate = min(round(abs(net) * scale) / scale, ceiling)
        if rate * per_kw > room:
            rate = math.floor(max(room, 0.0) / per_kw * scale) / scale
        if rate <= 0:
            continue
        soc += rate * per_kw if mode is Mode.CHARGE else -rate * per_kw
        step_start = begin + index * step
        previous = intervals[-1] if intervals else None
        if previous is not None and previous.end == step_start and previous.mode is mode and previous.rate_kw == rate:
            intervals[-1] = previous._replace(end=step_start + step)
        else:
            intervals.append(Interval(step_start, step_start + step, mode, rate))
    return Schedule(device_id, tuple(intervals)) if intervals else None
