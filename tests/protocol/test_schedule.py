"""The wire format round-trips through the validator unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridpilot.protocol import Interval, Mode, Schedule, validate_schedule

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_to_json_is_accepted_back_as_the_same_schedule() -> None:
    schedule = Schedule(
        "bat-1",
        (
            Interval(NOW, NOW + timedelta(minutes=15), Mode.CHARGE, 2.5),
            Interval(NOW + timedelta(hours=1), NOW + timedelta(hours=2), Mode.DISCHARGE, 1.0),
        ),
    )
    wire = schedule.to_json()
    assert wire["intervals"][0] == {  # type: ignore[index]
        "start": "2026-11-25T12:00:00Z",
        "end": "2026-11-25T12:15:00Z",
        "mode": 1,
        "rate_kw": 2.5,
    }
    assert validate_schedule(wire, now=NOW).schedule == schedule


def test_duration_is_in_hours() -> None:
    assert Interval(NOW, NOW + timedelta(minutes=90), Mode.CHARGE, 1).duration_h == 1.5
