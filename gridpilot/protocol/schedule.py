"""The schedule wire format as plain, immutable data: what the cloud stores and the agent executes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import NamedTuple


class Mode(IntEnum):
    """What the battery does during an interval."""

    CHARGE = 1
    DISCHARGE = 2


class Interval(NamedTuple):
    """One interval: from start (inclusive) to end (exclusive), both timezone-aware UTC, at rate_kw.

    A NamedTuple rather than a frozen dataclass: a day-ahead batch builds a million of them.
    """

    start: datetime
    end: datetime
    mode: Mode
    rate_kw: float

    @property
    def duration_h(self) -> float:
        """The interval's length in hours."""
        return (self.end - self.start).total_seconds() / 3600.0

    def to_json(self) -> dict[str, object]:
        """The interval in the wire format (RFC 3339 timestamps with a Z offset)."""
        return {
            "start": _rfc3339(self.start),
            "end": _rfc3339(self.end),
            "mode": int(self.mode),
            "rate_kw": self.rate_kw,
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule for one device: intervals sorted, not overlapping, in UTC."""

    device_id: str
    intervals: tuple[Interval, ...]

    def to_json(self) -> dict[str, object]:
        """The schedule in the wire format; validate_schedule accepts it back unchanged."""
        return {"device_id": self.device_id, "intervals": [interval.to_json() for interval in self.intervals]}


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
