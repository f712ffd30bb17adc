"""The demo's sense of time: real prices relabelled onto this week, and plans made visible within seconds.

Pure: plain data in and out, `now` passed in. Three things happen here:

- `relabel`: the shipped sample (real Nord Pool prices of 2018) is laid onto the current calendar, keeping
  weekdays aligned so that the weekly pattern the forecasting model learns still holds;
- `quicken`: the first minutes of a plan are cut into short intervals of the same mode and power, so that
  acknowledgements arrive at once instead of at the end of the first hour (the energy is the same);
- `compress`: with `--speed S` a market day's plan is replayed from now, each hour lasting 60/S minutes at the
  planned power (so the energy moved is 1/S of the plan's: the demo says so).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gridpilot.protocol import Interval

SAMPLE = Path(__file__).parent / "data" / "np_sample.csv"
SAMPLE_MARKET = "NP"
SAMPLE_TIMEZONE = "Europe/Oslo"


@dataclass(frozen=True, slots=True)
class SampleDay:
    """One local day of the sample: its date and its price per local hour (0..23)."""

    day: date
    prices: tuple[float, ...]


def read_sample(path: Path = SAMPLE) -> list[SampleDay]:
    """The sample's complete days in order (`timestamp,price`, local wall time, one row per hour)."""
    by_day: dict[date, dict[int, float]] = defaultdict(dict)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            stamp = datetime.fromisoformat(row["timestamp"])
            by_day[stamp.date()][stamp.hour] = float(row["price"])
    return [
        SampleDay(day, tuple(hours[h] for h in range(24))) for day, hours in sorted(by_day.items()) if len(hours) == 24
    ]


def relabel(sample: Sequence[SampleDay], *, last_day: date) -> list[tuple[date, SampleDay]]:
    """Sample days mapped onto calendar days ending at `last_day`, weekday on weekday.

    The latest sample day with `last_day`'s weekday becomes `last_day`; every earlier sample day keeps its distance.
    """
    anchor = next(d for d in reversed(sample) if d.day.weekday() == last_day.weekday())
    shift = last_day - anchor.day
    return [(d.day + shift, d) for d in sample if d.day <= anchor.day]


def day_prices(day: date, prices: Sequence[float], timezone: str) -> list[tuple[datetime, float]]:
    """One (UTC start, price) per delivery hour of the local `day`, the price chosen by local wall-clock hour.

    A 23-hour day skips the hour the clocks skip; a 25-hour day uses the repeated hour's price twice.
    """
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))
    out: list[tuple[datetime, float]] = []
    at = start
    while at < end:
        out.append((at, prices[at.astimezone(zone).hour]))
        at += timedelta(hours=1)
    return out


def quicken(intervals: Iterable[Interval], *, now: datetime, within: timedelta, piece: timedelta) -> list[Interval]:
    """The intervals still to come from `now`, those parts before now + within cut into `piece`-long intervals.

    An interval already running starts at `now` instead (the part before is history); an ended one is dropped.
    """
    horizon = now + within
    out: list[Interval] = []
    for interval in intervals:
        if interval.end <= now:
            continue
        start = max(interval.start, now)
        while start < min(interval.end, horizon):
            end = min(start + piece, interval.end)
            out.append(Interval(start, end, interval.mode, interval.rate_kw))
            start = end
        if start < interval.end:
            out.append(Interval(start, interval.end, interval.mode, interval.rate_kw))
    return out


def compress(intervals: Iterable[Interval], *, day_start: datetime, t0: datetime, speed: float) -> list[Interval]:
    """A plan laid out from `day_start` replayed from `t0`, every duration divided by `speed` (to the second)."""

    def shifted(at: datetime) -> datetime:
        return t0 + timedelta(seconds=round((at - day_start).total_seconds() / speed))

    out = [Interval(shifted(i.start), shifted(i.end), i.mode, i.rate_kw) for i in intervals if i.end > day_start]
    return [i for i in out if i.end > i.start]
