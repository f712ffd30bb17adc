"""Builders of schedules and acks for fleet tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta


def next_quarter_hour(offset: timedelta = timedelta(0)) -> datetime:
    """The start of the next quarter hour from now, plus an offset."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 15) + timedelta(minutes=15) + offset


def schedule(
    device_id: str,
    *,
    start: datetime | None = None,
    count: int = 4,
    minutes: int = 15,
    mode: int = 1,
    rate_kw: float = 2.0,
    alternate: bool = True,
) -> dict[str, object]:
    """A valid schedule: `count` back-to-back intervals, alternating charge and discharge by default."""
    first = start or next_quarter_hour()
    intervals = []
    for i in range(count):
        begin = first + timedelta(minutes=minutes * i)
        this_mode = (mode if i % 2 == 0 else 3 - mode) if alternate else mode
        intervals.append(
            {
                "start": begin.isoformat(),
                "end": (begin + timedelta(minutes=minutes)).isoformat(),
                "mode": this_mode,
                "rate_kw": rate_kw,
            }
        )
    return {"device_id": device_id, "intervals": intervals}


def ack(interval_id: int, status: str = "executed", **fields: object) -> dict[str, object]:
    """An execution record with a fresh ack_id."""
    now = datetime.now(UTC)
    return {
        "ack_id": str(uuid.uuid4()),
        "interval_id": interval_id,
        "status": status,
        "started_at": (now - timedelta(minutes=15)).isoformat(),
        "ended_at": now.isoformat(),
        "energy_kwh": 0.5,
        **fields,
    }
