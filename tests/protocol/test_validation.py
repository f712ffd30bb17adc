"""Validation rules one by one: each violation is reported with its pointer and code, all of them at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gridpilot.protocol import BatteryLimits, Mode, SchedulePolicy, Violation, validate_schedule

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LIMITS = BatteryLimits(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=4, min_soc_pct=10, max_soc_pct=90)


def at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def schedule(*intervals: dict[str, Any], device_id: object = "bat-1") -> dict[str, Any]:
    return {"device_id": device_id, "intervals": list(intervals)}


def interval(start: float = 0, end: float = 15, mode: object = 1, rate_kw: object = 1.0) -> dict[str, Any]:
    return {"start": at(start), "end": at(end), "mode": mode, "rate_kw": rate_kw}


def codes(raw: object, **kwargs: Any) -> set[tuple[str, str]]:
    result = validate_schedule(raw, now=NOW, **kwargs)
    assert result.schedule is None
    return {(v.pointer, v.code) for v in result.violations}


def test_a_valid_schedule_is_normalized_to_utc() -> None:
    raw = schedule(
        {"start": "2026-11-25T14:00:00+01:00", "end": "2026-11-25T13:30:00Z", "mode": 2, "rate_kw": 4},
        interval(90, 105, mode=1, rate_kw=5),
    )
    result = validate_schedule(raw, now=NOW, limits=LIMITS, soc_pct=50)
    assert result.ok and result.schedule is not None
    first = result.schedule.intervals[0]
    assert (first.start, first.end, first.mode, first.rate_kw) == (
        NOW + timedelta(hours=1),
        NOW + timedelta(hours=1.5),
        Mode.DISCHARGE,
        4.0,
    )
    assert first.start.tzinfo is UTC


def test_every_violation_is_reported_not_just_the_first() -> None:
    raw = schedule(interval(mode=3), interval(15, 30, rate_kw=-1), interval(20, 40))
    assert codes(raw, limits=LIMITS) == {
        ("/intervals/0/mode", "invalid_mode"),
        ("/intervals/1/rate_kw", "not_positive"),
        ("/intervals/2/start", "overlap"),
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], ("", "type")),
        ("schedule", ("", "type")),
        ({"intervals": [interval()]}, ("/device_id", "missing")),
        (schedule(interval(), device_id=7), ("/device_id", "type")),
        (schedule(interval(), device_id=""), ("/device_id", "invalid")),
        (schedule(interval(), device_id="x" * 129), ("/device_id", "invalid")),
        ({"device_id": "bat-1"}, ("/intervals", "missing")),
        ({"device_id": "bat-1", "intervals": {}}, ("/intervals", "type")),
        (schedule(), ("/intervals", "empty")),
        ({**schedule(interval()), "priority": 1}, ("/priority", "unknown_field")),
        ({**schedule(interval()), "a/b~c": 1}, ("/a~1b~0c", "unknown_field")),
        (schedule("interval"), ("/intervals/0", "type")),
        (schedule({**interval(), "soc": 5}), ("/intervals/0/soc", "unknown_field")),
        (schedule({k: v for k, v in interval().items() if k != "end"}), ("/intervals/0/end", "missing")),
        (schedule(interval(mode=True)), ("/intervals/0/mode", "invalid_mode")),
        (schedule(interval(mode=1.0)), ("/intervals/0/mode", "invalid_mode")),
        (schedule(interval(mode="1")), ("/intervals/0/mode", "invalid_mode")),
        (schedule(interval(mode=0)), ("/intervals/0/mode", "invalid_mode")),
        (schedule(interval(rate_kw="1")), ("/intervals/0/rate_kw", "type")),
        (schedule(interval(rate_kw=True)), ("/intervals/0/rate_kw", "type")),
        (schedule(interval(rate_kw=None)), ("/intervals/0/rate_kw", "type")),
        (schedule(interval(rate_kw=float("nan"))), ("/intervals/0/rate_kw", "not_finite")),
        (schedule(interval(rate_kw=float("inf"))), ("/intervals/0/rate_kw", "not_finite")),
        (schedule(interval(rate_kw=0)), ("/intervals/0/rate_kw", "not_positive")),
        (schedule({**interval(), "start": 1764072000}), ("/intervals/0/start", "type")),
        (schedule({**interval(), "start": "tomorrow"}), ("/intervals/0/start", "invalid_timestamp")),
        (schedule({**interval(), "start": "2026-11-25T12:00:00"}), ("/intervals/0/start", "naive_timestamp")),
        (schedule({**interval(), "end": "2026-11-25"}), ("/intervals/0/end", "naive_timestamp")),
        (schedule(interval(15, 15)), ("/intervals/0/end", "not_after_start")),
        (schedule(interval(15, 0)), ("/intervals/0/end", "not_after_start")),
        (schedule(interval(-30, 0)), ("/intervals/0/end", "in_past")),
        (schedule(interval(0, 7 * 24 * 60 + 1)), ("/intervals/0/end", "beyond_horizon")),
        (schedule(interval(30, 45), interval(0, 15)), ("/intervals/1/start", "not_sorted")),
        (schedule(interval(0, 30), interval(29, 45)), ("/intervals/1/start", "overlap")),
    ],
)
def test_each_rule_names_the_field_and_the_reason(raw: object, expected: tuple[str, str]) -> None:
    assert expected in codes(raw)


def test_an_active_interval_that_started_in_the_past_is_fine() -> None:
    assert validate_schedule(schedule(interval(-30, 30)), now=NOW).ok


def test_back_to_back_intervals_do_not_overlap() -> None:
    assert validate_schedule(schedule(interval(0, 15), interval(15, 30)), now=NOW).ok


@pytest.mark.parametrize(("mode", "rate_kw", "ok"), [(1, 5, True), (1, 5.01, False), (2, 4, True), (2, 4.5, False)])
def test_rate_limit_is_per_mode(mode: int, rate_kw: float, ok: bool) -> None:
    result = validate_schedule(schedule(interval(mode=mode, rate_kw=rate_kw)), now=NOW, limits=LIMITS, soc_pct=50)
    assert result.ok is ok
    if not ok:
        assert [(v.pointer, v.code) for v in result.violations] == [("/intervals/0/rate_kw", "over_limit")]
        assert "kW" in result.violations[0].message


def test_without_limits_no_rate_limit_applies() -> None:
    assert validate_schedule(schedule(interval(rate_kw=500)), now=NOW).ok


def test_policy_bounds_horizon_and_count() -> None:
    policy = SchedulePolicy(max_horizon=timedelta(hours=1), max_intervals=2)
    raw = schedule(interval(0, 15), interval(15, 30), interval(30, 61))
    assert codes(raw, policy=policy) == {("/intervals", "too_many"), ("/intervals/2/end", "beyond_horizon")}


def test_soc_infeasibility_names_the_first_interval_that_leaves_the_range() -> None:
    # 10 kWh, from 50 %: each hour of 4 kW discharge draws 40 points; the second hour would end at -30 %.
    raw = schedule(interval(0, 30, mode=2, rate_kw=4), interval(30, 90, mode=2, rate_kw=4), interval(90, 150, 2, 4))
    result = validate_schedule(raw, now=NOW, limits=LIMITS, soc_pct=50)
    assert [(v.pointer, v.code) for v in result.violations] == [("/intervals/1", "soc_infeasible")]
    assert "below the device's minimum of 10%" in result.violations[0].message


def test_charging_past_max_soc_is_infeasible() -> None:
    result = validate_schedule(schedule(interval(0, 60, mode=1, rate_kw=5)), now=NOW, limits=LIMITS, soc_pct=50)
    assert [(v.pointer, v.code) for v in result.violations] == [("/intervals/0", "soc_infeasible")]


def test_a_battery_below_its_minimum_may_be_charged_but_not_discharged() -> None:
    charge = schedule(interval(0, 15, mode=1, rate_kw=1))
    discharge = schedule(interval(0, 15, mode=2, rate_kw=1))
    assert validate_schedule(charge, now=NOW, limits=LIMITS, soc_pct=5).ok
    assert not validate_schedule(discharge, now=NOW, limits=LIMITS, soc_pct=5).ok


def test_exactly_reaching_a_limit_is_feasible() -> None:
    # 4 kW for 1 h from 50 % draws 4 / 1.0 / 10 = 40 points: exactly to the 10 % minimum.
    assert validate_schedule(schedule(interval(0, 60, mode=2, rate_kw=4)), now=NOW, limits=LIMITS, soc_pct=50).ok


def test_with_unknown_soc_the_swing_must_fit_the_range() -> None:
    # 10 kWh between 10 % and 90 %: an 80-point range; each hour at 4 kW moves 40 points.
    exactly_the_range = schedule(interval(0, 60, 1, 4), interval(60, 120, 2, 4), interval(120, 240, 1, 4))
    assert validate_schedule(exactly_the_range, now=NOW, limits=LIMITS).ok
    swing = schedule(interval(0, 60, mode=1, rate_kw=4), interval(60, 195, mode=2, rate_kw=4))
    result = validate_schedule(swing, now=NOW, limits=LIMITS)
    assert [(v.pointer, v.code) for v in result.violations] == [("/intervals/1", "soc_infeasible")]
    within = schedule(interval(0, 60, mode=1, rate_kw=4), interval(60, 120, mode=2, rate_kw=4))
    assert validate_schedule(within, now=NOW, limits=LIMITS).ok


def test_soc_is_checked_only_once_the_format_is_right() -> None:
    raw = schedule(interval(0, 600, mode=2, rate_kw=4), interval(600, 615, mode=3))
    assert codes(raw, limits=LIMITS, soc_pct=50) == {("/intervals/1/mode", "invalid_mode")}


def test_with_prefix_places_the_pointer_inside_a_batch() -> None:
    assert Violation("/intervals/0/mode", "invalid_mode", "m").with_prefix("/3").pointer == "/3/intervals/0/mode"


def test_long_garbage_is_not_echoed_in_full() -> None:
    result = validate_schedule(schedule({**interval(), "start": "x" * 10_000}), now=NOW)
    assert all(len(v.message) < 200 for v in result.violations)
