"""Local timestamps become UTC instants safely across DST: repeated hours by order, skipped hours refused."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gridpilot.market.imports.timestamps import LocalTimes, TimestampError

OSLO = ZoneInfo("Europe/Oslo")


def test_the_repeated_fall_back_hour_maps_to_summer_then_winter_time() -> None:
    times = LocalTimes(OSLO)
    first = times.to_utc("2024-10-27 02:00:00")
    second = times.to_utc("2024-10-27 02:00:00")
    assert first == datetime(2024, 10, 27, 0, 0, tzinfo=UTC)
    assert second == datetime(2024, 10, 27, 1, 0, tzinfo=UTC)


def test_the_skipped_spring_forward_hour_is_refused() -> None:
    with pytest.raises(TimestampError, match="does not exist in Europe/Oslo"):
        LocalTimes(OSLO).to_utc("2024-03-31 02:00:00")


def test_an_offset_must_match_the_time_zone() -> None:
    times = LocalTimes(OSLO)
    assert times.to_utc("2024-10-27T02:00:00+01:00") == datetime(2024, 10, 27, 1, 0, tzinfo=UTC)
    with pytest.raises(TimestampError, match="wrong time zone"):
        times.to_utc("2024-07-01T12:00:00+05:00")


def test_garbage_is_refused() -> None:
    with pytest.raises(TimestampError, match="not an ISO 8601 timestamp"):
        LocalTimes(OSLO).to_utc("yesterday noon")
