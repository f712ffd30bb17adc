"""The device page's pure shaping: the window, the timeline's categories, the thinned telemetry series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridpilot.dashboard import device_series

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_the_window_defaults_to_a_day_either_side_and_refuses_what_is_not_offered() -> None:
    assert device_series.window(now=NOW, hours=None) == (NOW - timedelta(hours=24), NOW + timedelta(hours=24), 24, [])
    since, until, hours, notes = device_series.window(now=NOW, hours="72")
    assert (until - since, hours, notes) == (timedelta(hours=144), 72, [])
    for bad in ("0", "-24", "5", "9999999", "soon", "24.5"):
        since, until, hours, notes = device_series.window(now=NOW, hours=bad)
        assert hours == 24 and len(notes) == 1, bad


def test_interval_categories_follow_acks_and_time() -> None:
    past, future = NOW - timedelta(minutes=1), NOW + timedelta(minutes=1)
    assert device_series.category("executed", end=past, now=NOW) == "executed"
    assert device_series.category("failed", end=past, now=NOW) == "failed"
    assert device_series.category("missed", end=past, now=NOW) == "missed"
    assert device_series.category("skipped", end=future, now=NOW) == "missed"
    assert device_series.category("pending", end=past, now=NOW) == "expired"
    assert device_series.category("pending", end=NOW, now=NOW) == "expired"
    assert device_series.category("pending", end=future, now=NOW) == "planned"


def test_the_timeline_signs_power_by_mode_and_carries_the_ack() -> None:
    intervals = [
        {
            "id": 1,
            "version": 2,
            "start": NOW - timedelta(minutes=30),
            "end": NOW - timedelta(minutes=15),
            "mode": 1,
            "rate_kw": 3.0,
            "status": "executed",
        },
        {
            "id": 2,
            "version": 2,
            "start": NOW - timedelta(minutes=15),
            "end": NOW,
            "mode": 2,
            "rate_kw": 1.5,
            "status": "pending",
        },
        {
            "id": 3,
            "version": 3,
            "start": NOW,
            "end": NOW + timedelta(minutes=15),
            "mode": 2,
            "rate_kw": 1.0,
            "status": "pending",
        },
    ]
    acks = {1: {"status": "executed", "energy_kwh": 0.74, "message": None, "ended_at": NOW - timedelta(minutes=15)}}
    shaped = device_series.timeline(
        intervals=intervals, acks=acks, now=NOW, since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1)
    )
    assert [(i["id"], i["kw"], i["category"]) for i in shaped["intervals"]] == [
        (1, 3.0, "executed"),
        (2, -1.5, "expired"),
        (3, -1.0, "planned"),
    ]
    assert shaped["intervals"][0]["ack"]["energy_kwh"] == 0.74
    assert shaped["intervals"][1]["ack"] is None
    assert shaped["intervals"][0]["start"] == int((NOW - timedelta(minutes=30)).timestamp() * 1000)
    assert shaped["now"] == int(NOW.timestamp() * 1000)
    assert shaped["counts"] == {"planned": 1, "executed": 1, "failed": 0, "missed": 0, "expired": 1}


def test_thinning_keeps_the_ends_and_the_count() -> None:
    rows = list(range(10_001))
    thinned = device_series.thin(rows, max_points=100)
    assert len(thinned) == 100
    assert thinned[0] == 0 and thinned[-1] == 10_000
    assert thinned == sorted(set(thinned))
    assert device_series.thin(rows[:50], max_points=100) == rows[:50]
    assert device_series.thin(rows, max_points=1) == [10_000]


def test_telemetry_series_skip_missing_temperatures() -> None:
    rows = [(NOW, 50.0, 2.0, 20.5), (NOW + timedelta(seconds=10), 51.0, -1.0, None)]
    shaped = device_series.telemetry(rows, since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1))
    stamp = int(NOW.timestamp() * 1000)
    assert shaped["soc"] == [[stamp, 50.0], [stamp + 10_000, 51.0]]
    assert shaped["power"] == [[stamp, 2.0], [stamp + 10_000, -1.0]]
    assert shaped["temperature"] == [[stamp, 20.5]]
    assert (shaped["points"], shaped["shown"]) == (2, 2)
