"""Property-based: what the validator accepts is safe to execute; any single corruption is caught and located."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gridpilot.protocol import BatteryLimits, Mode, soc_trajectory, validate_schedule
from gridpilot.protocol.validation import SOC_TOLERANCE_PCT

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def wire(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@st.composite
def battery_limits(draw: st.DrawFn) -> BatteryLimits:
    min_soc = draw(st.floats(0, 40))
    return BatteryLimits(
        capacity_kwh=draw(st.floats(1, 100)),
        max_charge_kw=draw(st.floats(0.5, 50)),
        max_discharge_kw=draw(st.floats(0.5, 50)),
        min_soc_pct=min_soc,
        max_soc_pct=draw(st.floats(min_soc + 10, 100)),
        charge_efficiency=draw(st.floats(0.7, 1)),
        discharge_efficiency=draw(st.floats(0.7, 1)),
    )


@st.composite
def raw_schedules(draw: st.DrawFn, limits: BatteryLimits, valid: bool = False) -> dict[str, Any]:
    """Sorted, non-overlapping intervals; unless valid, some may end in the past or exceed the power limits."""
    minute = draw(st.integers(0 if valid else -30, 600))
    intervals = []
    for _ in range(draw(st.integers(1, 24))):
        start = NOW + timedelta(minutes=minute)
        minute += draw(st.integers(1, 120))
        mode = draw(st.sampled_from([1, 2]))
        ceiling = limits.max_charge_kw if mode == 1 else limits.max_discharge_kw
        rate = draw(st.floats(0.01, ceiling * (1 if valid else 1.2)))
        intervals.append(
            {"start": wire(start), "end": wire(NOW + timedelta(minutes=minute)), "mode": mode, "rate_kw": rate}
        )
        minute += draw(st.integers(0, 60))
    return {"device_id": draw(st.text(min_size=1, max_size=20)), "intervals": intervals}


@st.composite
def limits_and_schedule(draw: st.DrawFn) -> tuple[BatteryLimits, dict[str, Any]]:
    limits = draw(battery_limits())
    return limits, draw(raw_schedules(limits))


@settings(max_examples=400)
@given(case=limits_and_schedule(), soc_share=st.floats(0, 1))
def test_an_accepted_schedule_keeps_power_and_soc_within_limits(
    case: tuple[BatteryLimits, dict[str, Any]], soc_share: float
) -> None:
    limits, raw = case
    soc = limits.min_soc_pct + soc_share * (limits.max_soc_pct - limits.min_soc_pct)
    result = validate_schedule(raw, now=NOW, limits=limits, soc_pct=soc)
    event("accepted" if result.ok else "rejected")
    if result.schedule is None:
        return
    for interval in result.schedule.intervals:
        assert 0 < interval.rate_kw <= limits.max_rate_kw(interval.mode)
        assert interval.end > NOW
    for after in soc_trajectory(soc, result.schedule.intervals, limits):
        assert limits.min_soc_pct - SOC_TOLERANCE_PCT <= after <= limits.max_soc_pct + SOC_TOLERANCE_PCT


@settings(max_examples=400)
@given(case=limits_and_schedule())
def test_with_unknown_soc_an_accepted_schedule_fits_from_some_start(case: tuple[BatteryLimits, dict[str, Any]]) -> None:
    limits, raw = case
    result = validate_schedule(raw, now=NOW, limits=limits)
    event("accepted" if result.ok else "rejected")
    if result.schedule is None:
        return
    unshifted = soc_trajectory(0, result.schedule.intervals, limits)
    start = limits.min_soc_pct - min(0.0, *unshifted)
    assert start <= limits.max_soc_pct + SOC_TOLERANCE_PCT
    for after in soc_trajectory(start, result.schedule.intervals, limits):
        assert limits.min_soc_pct - SOC_TOLERANCE_PCT <= after <= limits.max_soc_pct + 2 * SOC_TOLERANCE_PCT


BIG = BatteryLimits(capacity_kwh=1e9, max_charge_kw=10, max_discharge_kw=8)

CORRUPTIONS: dict[str, list[object]] = {
    "mode": [0, 3, -1, "1", True, None, 1.5, [1]],
    "rate_kw": [0, -1.0, float("nan"), float("inf"), "1", None, True, 10.01, {}],
    "start": ["garbage", "2026-11-25T12:00:00", 1764072000, None, "", "2026-13-01T00:00:00Z"],
    "end": ["garbage", "2026-11-25T13:00:00", 1764072000, None, "2026-11-25T12:00:00+25:00"],
}


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid schedule with one field broken, and the pointer to that field."""
    raw = draw(raw_schedules(BIG, valid=True))
    assert validate_schedule(raw, now=NOW, limits=BIG).ok
    index = draw(st.integers(0, len(raw["intervals"]) - 1))
    target = raw["intervals"][index]
    where = f"/intervals/{index}"
    kind = draw(st.sampled_from(["value", "drop", "extra", "empty_end", "overlap", "device_id"]))
    if kind == "value":
        name = draw(st.sampled_from(sorted(CORRUPTIONS)))
        target[name] = draw(st.sampled_from(CORRUPTIONS[name]))
        return raw, f"{where}/{name}"
    if kind == "drop":
        name = draw(st.sampled_from(sorted(target)))
        del target[name]
        return raw, f"{where}/{name}"
    if kind == "extra":
        target["soc_pct"] = 50
        return raw, f"{where}/soc_pct"
    if kind == "empty_end":
        target["end"] = target["start"]
        return raw, f"{where}/end"
    if kind == "overlap" and index > 0:
        target["start"] = raw["intervals"][index - 1]["start"]
        return raw, f"{where}/start"
    raw["device_id"] = draw(st.sampled_from(["", 42, None, "x" * 129]))
    return raw, "/device_id"


@settings(max_examples=600)
@given(case=corrupted())
def test_any_single_corruption_is_rejected_with_a_pointer_to_it(case: tuple[dict[str, Any], str]) -> None:
    raw, pointer = case
    result = validate_schedule(raw, now=NOW, limits=BIG, soc_pct=50)
    assert not result.ok
    assert pointer in {v.pointer for v in result.violations}


@given(case=limits_and_schedule())
def test_validation_is_deterministic_and_total(case: tuple[BatteryLimits, dict[str, Any]]) -> None:
    limits, raw = case
    first = validate_schedule(raw, now=NOW, limits=limits, soc_pct=None)
    assert first == validate_schedule(raw, now=NOW, limits=limits, soc_pct=None)
    assert (first.schedule is None) == bool(first.violations)
    if first.schedule is not None:
        assert all(i.mode in (Mode.CHARGE, Mode.DISCHARGE) and i.start.tzinfo is UTC for i in first.schedule.intervals)
