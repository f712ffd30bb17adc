"""Accepted volumes back into the devices' plans: each hour scaled to what the exchange accepted, kept feasible."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gridpilot.market.bidding.plans import WATT_MW, DevicePlan

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The plans that deliver the accepted volumes, and per hour how far the devices fall short (MW, signed)."""

    plans: list[DevicePlan]
    shortfall_mw: list[float]
    placeholders: list[str]
    """Devices given a 1 W interval where their old plan began, so that the new version replaces all of it."""


def _factors(positions: Sequence[float], accepted_mw: float) -> tuple[float, float]:
    """How much of the charging and of the discharging side to keep so that the net becomes the accepted volume.

    Only the side the net position stands on shrinks; the other side keeps netting inside the portfolio.
    """
    charging = math.fsum(mw for mw in positions if mw > 0)
    discharging = math.fsum(mw for mw in positions if mw < 0)
    if charging + discharging >= 0:
        keep = (accepted_mw - discharging) / charging if charging > 0 else 0.0
        return min(max(keep, 0.0), 1.0), 1.0
    keep = (accepted_mw - charging) / discharging if discharging < 0 else 0.0
    return 1.0, min(max(keep, 0.0), 1.0)


def apply_acceptance(plans: Sequence[DevicePlan], accepted_mw: Sequence[float]) -> Delivery:
    """Scale every device's hour to the portfolio's accepted volume (+ bought, − sold; 0 where nothing cleared)."""
    plan_list = list(plans)
    hours = len(accepted_mw)
    if any(len(plan.planned_mw) != hours for plan in plan_list):
        raise ValueError("every plan needs one position per accepted volume")
    positions = [[0.0] * hours for _ in plan_list]
    for hour in range(hours):
        column = [plan.planned_mw[hour] for plan in plan_list]
        keep_charge, keep_discharge = _factors(column, accepted_mw[hour])
        for i, mw in enumerate(column):
            positions[i][hour] = mw * (keep_charge if mw > 0 else keep_discharge)
    placeholders = []
    for i, plan in enumerate(plan_list):
        if _needs_placeholder(plan.planned_mw, positions[i]):
            first = next(h for h, mw in enumerate(plan.planned_mw) if abs(mw) >= WATT_MW)
            positions[i][first] = math.copysign(WATT_MW, plan.planned_mw[first])
            placeholders.append(plan.device_id)
        stored = plan.initial_mwh
        for hour in range(hours):
            positions[i][hour] = plan.feasible_mw(stored, positions[i][hour])
            stored += plan.stored_change_mwh(positions[i][hour])
    delivered = [math.fsum(row[hour] for row in positions) for hour in range(hours)]
    shortfall = [round(accepted - got, 6) for accepted, got in zip(accepted_mw, delivered, strict=True)]
    new_plans = [replace(plan, planned_mw=tuple(row)) for plan, row in zip(plan_list, positions, strict=True)]
    return Delivery(plans=new_plans, shortfall_mw=shortfall, placeholders=placeholders)


def _needs_placeholder(old: Sequence[float], new: Sequence[float]) -> bool:
    """True when the new plan begins later than the old one (the old intervals before it would stay in force)."""
    first_old = next((h for h, mw in enumerate(old) if abs(mw) >= WATT_MW), None)
    first_new = next((h for h, mw in enumerate(new) if abs(mw) >= WATT_MW), None)
    return first_old is not None and (first_new is None or first_new > first_old)


def schedule_json(plan: DevicePlan, hours: Sequence[datetime]) -> dict[str, object] | None:
    """The plan as a gridpilot schedule (hourly intervals, equal neighbours merged, whole watts); None when idle."""
    intervals: list[dict[str, object]] = []
    previous: tuple[int, float] | None = None
    for start, mw in zip(hours, plan.planned_mw, strict=True):
        rate_kw = round(abs(mw) * 1000.0, 3)
        if rate_kw <= 0:
            previous = None
            continue
        mode = 1 if mw > 0 else 2
        if previous == (mode, rate_kw) and intervals[-1]["end"] == _rfc3339(start):
            intervals[-1]["end"] = _rfc3339(start + HOUR)
        else:
            end = _rfc3339(start + HOUR)
            intervals.append({"start": _rfc3339(start), "end": end, "mode": mode, "rate_kw": rate_kw})
        previous = (mode, rate_kw)
    return {"device_id": plan.device_id, "intervals": intervals} if intervals else None


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
