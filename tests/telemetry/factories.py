"""Builders of telemetry points for telemetry tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def points(
    count: int, *, start: datetime | None = None, step: timedelta = timedelta(seconds=10)
) -> list[dict[str, object]]:
    """`count` valid points, `step` apart, starting two days ago by default."""
    first = start or datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    return [
        {
            "at": (first + step * i).isoformat(),
            "soc_pct": 50.0 + (i % 40),
            "power_kw": 2.5 if i % 2 else -1.5,
            "state": "charging" if i % 2 else "discharging",
            "voltage_v": 51.2,
            "temperature_c": 24.5,
            "soh_pct": 98.0,
        }
        for i in range(count)
    ]
