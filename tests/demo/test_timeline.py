"""The demo's timeline: the sample relabelled onto this week, plans quickened and compressed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from gridpilot.demo import timeline
from gridpilot.protocol import Interval, Mode

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_the_shipped_sample_is_small_real_and_complete() -> None:
    sample = timeline.read_sample()
    assert timeline.SAMPLE.stat().st_size < 100_000
    assert len(sample) == 63 and all(len(d.prices) == 24 for d in sample)
    assert sample[-1].day == date(2018, 12, 24) and sample[0].day == date(2018, 10, 23)


def test_relabelling_keeps_weekdays_and_ends_on_the_asked_day() -> None:
    sample = timeline.read_sample()
    mapped = timeline.relabel(sample, last_day=date(2026, 12, 6))
    assert mapped[-1][0] == date(2026, 12, 6)
    assert all(day.weekday() == source.day.weekday() for day, source in mapped)
    assert [day for day, _ in mapped] == sorted({day for day, _ in mapped})


def test_day_prices_follow_the_local_clock_across_dst() -> None:
    prices = tuple(float(h) for h in range(24))
    spring = timeline.day_prices(date(2026, 3, 29), prices, "Europe/Oslo")
    autumn = timeline.day_prices(date(2026, 10, 25), prices, "Europe/Oslo")
    assert len(spring) == 23 and 2.0 not in [p for _, p in spring]
    assert len(autumn) == 25 and [p for _, p in autumn].count(2.0) == 2


def test_quicken_cuts_the_first_minutes_and_drops_the_past() -> None:
    plan = [
        Interval(T0 - timedelta(hours=2), T0 - timedelta(hours=1), Mode.CHARGE, 5.0),
        Interval(T0 - timedelta(minutes=10), T0 + timedelta(minutes=50), Mode.DISCHARGE, 3.0),
    ]
    out = timeline.quicken(plan, now=T0, within=timedelta(minutes=1), piece=timedelta(seconds=15))
    assert [i.start for i in out[:5]] == [T0 + timedelta(seconds=15 * k) for k in range(5)]
    assert out[-1] == Interval(T0 + timedelta(minutes=1), T0 + timedelta(minutes=50), Mode.DISCHARGE, 3.0)
    assert all(i.mode is Mode.DISCHARGE and i.rate_kw == 3.0 for i in out)


def test_compress_replays_each_hour_in_a_minute_at_speed_60() -> None:
    day = datetime(2026, 12, 5, 23, tzinfo=UTC)
    plan = [Interval(day + timedelta(hours=2), day + timedelta(hours=4), Mode.CHARGE, 5.0)]
    assert timeline.compress(plan, day_start=day, t0=T0, speed=60) == [
        Interval(T0 + timedelta(minutes=2), T0 + timedelta(minutes=4), Mode.CHARGE, 5.0)
    ]
    assert timeline.compress(plan, day_start=day, t0=T0, speed=1)[0].start == T0 + timedelta(hours=2)
