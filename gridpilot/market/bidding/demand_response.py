"""Demand-response events override the economic plan: less consumption, or more export, within device limits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from gridpilot.market.bidding.plans import DevicePlan


class DemandResponseKind(StrEnum):
    """What an event asks of the portfolio during its window."""

    REDUCE_CONSUMPTION = "reduce_consumption"
    """Charge less (down to not at all); never asks a battery to discharge."""
    INCREASE_EXPORT = "increase_export"
    """Charge less and discharge more, down to the devices' discharge limits."""


@dataclass(frozen=True, slots=True)
class DemandResponseEvent:
    """A request from the grid operator for the delivery hours starting in [start, end)."""

    id: int
    kind: DemandResponseKind
    start: datetime
    end: datetime
    requested_mw: float | None = None
    """How far to lower the portfolio's net position below the plan; None: as far as the devices can."""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None or not self.start < self.end:
            raise ValueError("a demand-response window needs timezone-aware start < end")
        if self.requested_mw is not None and not (math.isfinite(self.requested_mw) and self.requested_mw > 0):
            raise ValueError(f"requested_mw must be a positive number, not {self.requested_mw!r}")

    def covers(self, delivery_start: datetime) -> bool:
        """True when the delivery hour starting then lies in the window."""
        return self.start <= delivery_start < self.end


@dataclass(frozen=True, slots=True)
class HourResponse:
    """What an event changed in one hour: the lowering asked for and the lowering the devices could give."""

    event_id: int
    kind: DemandResponseKind
    requested_mw: float | None
    delivered_mw: float


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    """The plans after the events, and per hour the event that applied (None outside every window)."""

    plans: list[DevicePlan]
    responses: list[HourResponse | None]


def event_for(events: Sequence[DemandResponseEvent], delivery_start: datetime) -> DemandResponseEvent | None:
    """The event that governs an hour: of overlapping ones, the one asking for more export, then the lowest id."""
    covering = [e for e in events if e.covers(delivery_start)]
    covering.sort(key=lambda e: (e.kind is not DemandResponseKind.INCREASE_EXPORT, e.id))
    return covering[0] if covering else None


def apply_demand_response(
    plans: Sequence[DevicePlan], hours: Sequence[datetime], events: Sequence[DemandResponseEvent]
) -> ResponsePlan:
    """Lower the net position in every event hour as asked (devices in id order), within power and energy limits.

    The energy an event takes (less charged, more discharged) is paid back by discharging less in the next hours
    outside any window, so that no device is driven below its minimum SoC later in the day.
    """
    ordered = sorted(plans, key=lambda plan: plan.device_id)
    if any(len(plan.planned_mw) != len(hours) for plan in ordered):
        raise ValueError("every plan needs one position per delivery hour")
    positions = [list(plan.planned_mw) for plan in ordered]
    stored = [plan.initial_mwh for plan in ordered]
    owed = [0.0] * len(ordered)  # stored energy below the plan, from events
    responses: list[HourResponse | None] = []
    for hour, start in enumerate(hours):
        event = event_for(events, start)
        remaining = math.inf if event is None or event.requested_mw is None else event.requested_mw
        delivered = 0.0
        for i, plan in enumerate(ordered):
            planned = positions[i][hour]
            if event is not None and remaining > 1e-9:
                lowest = 0.0 if event.kind is DemandResponseKind.REDUCE_CONSUMPTION else -plan.max_discharge_mw
                wanted = max(lowest, planned - remaining) if planned > lowest else planned
                target = min(planned, plan.feasible_mw(stored[i], wanted)) if wanted < planned else planned
                remaining -= planned - target
                delivered += planned - target
                owed[i] += plan.stored_change_mwh(planned) - plan.stored_change_mwh(target)
                positions[i][hour] = target
            elif event is None and owed[i] > 0 and planned < 0:
                repaid = min(-planned / plan.discharge_efficiency, owed[i])
                owed[i] -= repaid
                positions[i][hour] = round(planned + repaid * plan.discharge_efficiency, 6)
            positions[i][hour] = plan.feasible_mw(stored[i], positions[i][hour])
            stored[i] += plan.stored_change_mwh(positions[i][hour])
        responses.append(
            None if event is None else HourResponse(event.id, event.kind, event.requested_mw, round(delivered, 6))
        )
    adjusted = [replace(plan, planned_mw=tuple(row)) for plan, row in zip(ordered, positions, strict=True)]
    return ResponsePlan(plans=adjusted, responses=responses)
