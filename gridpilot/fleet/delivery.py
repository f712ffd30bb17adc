"""Where a schedule version is on its way to the device and through it, as operators see it.

queued -> sent (pushed, the broker confirmed) -> delivered (the device reported it in force)
-> executed | failed (every interval acknowledged); expired when all its intervals ended
before the device had it. HTTP-polling devices skip `sent`: their poll is the delivery.
Derived from stored timestamps and interval statuses, never stored as a state of its own.
"""

from __future__ import annotations

from datetime import datetime

from gridpilot.fleet.schemas import DeliveryState

_FAILED = ("failed", "missed", "skipped")


def delivery_state(
    *,
    sent_at: datetime | None,
    delivered_at: datetime | None,
    interval_counts: dict[str, int],
    last_end: datetime | None,
    now: datetime,
) -> DeliveryState:
    """The delivery state of one schedule version from its timestamps and its intervals' statuses."""
    if delivered_at is None:
        if last_end is not None and last_end <= now and not _acknowledged(interval_counts):
            return DeliveryState.EXPIRED
        return DeliveryState.SENT if sent_at else DeliveryState.QUEUED
    if interval_counts.get("pending", 0) or not _acknowledged(interval_counts):
        return DeliveryState.DELIVERED
    return DeliveryState.FAILED if any(interval_counts.get(s, 0) for s in _FAILED) else DeliveryState.EXECUTED


def _acknowledged(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in ("executed", *_FAILED))
