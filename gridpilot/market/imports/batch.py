"""What an import read: price points, rejected rows, and the duplicates and gaps found among the points."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One price of one delivery period, with where it was read (a line number or a list index)."""

    delivery_start: datetime
    price: float
    line: int


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not imported, and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Several rows for one delivery period; identical ones are stored once, conflicting ones not at all."""

    delivery_start: datetime
    lines: tuple[int, ...]
    conflicting: bool


@dataclass(frozen=True, slots=True)
class Gap:
    """Consecutive delivery periods missing between the first and the last one read."""

    start: datetime
    periods: int


@dataclass
class PriceBatch:
    """Prices read from one source for one market, before they are stored."""

    source: str
    resolution_minutes: int
    currency: str
    unit: str
    points: list[PricePoint] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    known_at: datetime | None = None  # when the source published them; None: when gridpilot received them
    position: str = "line"  # what a PricePoint's and a RowError's `line` counts: CSV lines, JSON list items


@dataclass(frozen=True, slots=True)
class Screened:
    """The points fit to store, one per delivery period, and what the screening found."""

    points: list[PricePoint]
    errors: list[RowError]
    duplicates: list[Duplicate]
    gaps: list[Gap]

    @property
    def missing_periods(self) -> int:
        """Delivery periods absent between the first and the last point."""
        return sum(gap.periods for gap in self.gaps)


def screen(points: list[PricePoint], *, resolution_minutes: int) -> Screened:
    """Keep one point per delivery period and report duplicates, off-grid points and gaps; nothing is filled."""
    step = timedelta(minutes=resolution_minutes)
    by_start: dict[datetime, list[PricePoint]] = defaultdict(list)
    for point in points:
        by_start[point.delivery_start].append(point)
    if not by_start:
        return Screened([], [], [], [])
    anchor = min(by_start)
    kept: list[PricePoint] = []
    errors: list[RowError] = []
    duplicates: list[Duplicate] = []
    for start in sorted(by_start):
        group = by_start[start]
        if (start - anchor) % step:
            errors.extend(
                RowError(
                    p.line,
                    f"{start.isoformat()} is off the {resolution_minutes}-minute grid that starts at "
                    f"{anchor.isoformat()}",
                )
                for p in group
            )
            continue
        if len(group) > 1:
            conflicting = len({p.price for p in group}) > 1
            lines = tuple(p.line for p in group)
            duplicates.append(Duplicate(start, lines, conflicting))
            if conflicting:
                prices = ", ".join(f"{p.price:g} (line {p.line})" for p in group)
                errors.extend(RowError(p.line, f"conflicting prices for {start.isoformat()}: {prices}") for p in group)
                continue
        kept.append(group[0])
    return Screened(kept, errors, duplicates, _gaps(sorted(by_start), anchor=anchor, step=step))


def _gaps(starts: list[datetime], *, anchor: datetime, step: timedelta) -> list[Gap]:
    """Runs of missing periods on the grid between consecutive starts (off-grid starts ignored)."""
    on_grid = [s for s in starts if not (s - anchor) % step]
    gaps = []
    for previous, current in itertools.pairwise(on_grid):
        missing = (current - previous) // step - 1
        if missing > 0:
            gaps.append(Gap(previous + step, missing))
    return gaps
