"""Pure shaping for the device page: the window asked for, the schedule timeline, the telemetry series.

Times leave here as epoch milliseconds (what ECharts' time axis and the browser's
Date.parse of a live event both give), power as signed kW: charge up, discharge down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

WINDOWS_H = (6, 24, 72, 168)
DEFAULT_WINDOW_H = 24
MAX_CHART_POINTS = 2_000
CHARGE = 1

# What each interval status shows as on the timeline; pending splits on whether it has ended.
CATEGORIES = {
    "executed": "executed",
    "failed": "failed",
    "missed": "missed",
    "skipped": "missed",
}
CATEGORY_LABELS = {
    "planned": "planned",
    "executed": "executed",
    "failed": "failed",
    "missed": "missed or skipped",
    "expired": "ended, no ack",
}


def ms(moment: datetime | None) -> int | None:
    """Epoch milliseconds of an aware datetime."""
    return None if moment is None else int(moment.timestamp() * 1000)


def window(*, now: datetime, hours: str | None) -> tuple[datetime, datetime, int, list[str]]:
    """The chart window `hours` either side of now (one of WINDOWS_H), and a note if the request was not usable."""
    notes: list[str] = []
    chosen = DEFAULT_WINDOW_H
    if hours:
        try:
            chosen = int(hours)
        except ValueError:
            notes.append(f"Window {hours[:20]!r} is not a number of hours; showing ±{DEFAULT_WINDOW_H} h.")
        else:
            if chosen not in WINDOWS_H:
                notes.append(f"Window ±{chosen} h is not offered; showing ±{DEFAULT_WINDOW_H} h.")
                chosen = DEFAULT_WINDOW_H
    span = timedelta(hours=chosen)
    return now - span, now + span, chosen, notes


def category(status: str, *, end: datetime, now: datetime) -> str:
    """The timeline category of an interval: what its acknowledgement said, or whether it is still ahead."""
    if status == "pending":
        return "expired" if end <= now else "planned"
    return CATEGORIES.get(status, "planned")


def timeline(
    *,
    intervals: Sequence[Mapping[str, Any]],
    acks: Mapping[int, Mapping[str, Any]],
    now: datetime,
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """The planned intervals as signed-kW blocks coloured by what their execution records say."""
    items = []
    for interval in intervals:
        ack = acks.get(int(interval["id"]))
        rate = float(interval["rate_kw"])
        items.append(
            {
                "id": int(interval["id"]),
                "version": int(interval["version"]),
                "start": ms(interval["start"]),
                "end": ms(interval["end"]),
                "kw": rate if int(interval["mode"]) == CHARGE else -rate,
                "category": category(str(interval["status"]), end=interval["end"], now=now),
                "ack": None
                if ack is None
                else {
                    "status": ack.get("status"),
                    "energy_kwh": ack.get("energy_kwh"),
                    "message": ack.get("message"),
                    "ended_at": ms(ack.get("ended_at")),
                },
            }
        )
    return {
        "intervals": items,
        "categories": CATEGORY_LABELS,
        "now": ms(now),
        "since": ms(since),
        "until": ms(until),
        "counts": {name: sum(1 for item in items if item["category"] == name) for name in CATEGORY_LABELS},
    }


def thin(rows: Sequence[Any], *, max_points: int = MAX_CHART_POINTS) -> list[Any]:
    """At most `max_points` rows spread evenly over the sequence, always keeping the first and the last."""
    if len(rows) <= max_points:
        return list(rows)
    if max_points < 2:
        return [rows[-1]]
    step = (len(rows) - 1) / (max_points - 1)
    return [rows[round(i * step)] for i in range(max_points)]


def telemetry(
    rows: Sequence[tuple[datetime, float, float, float | None]],
    *,
    since: datetime,
    until: datetime,
    max_points: int = MAX_CHART_POINTS,
) -> dict[str, Any]:
    """SoC, power and temperature series over the window, thinned for the chart."""
    kept = thin(rows, max_points=max_points)
    return {
        "soc": [[ms(at), soc] for at, soc, _, _ in kept],
        "power": [[ms(at), power] for at, _, power, _ in kept],
        "temperature": [[ms(at), temperature] for at, _, _, temperature in kept if temperature is not None],
        "points": len(rows),
        "shown": len(kept),
        "since": ms(since),
        "until": ms(until),
    }
