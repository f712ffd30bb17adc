"""Strict schedule validation, shared by the cloud (on submit) and the agent (on receipt).

validate_schedule takes the parsed JSON as it came (any shape) and reports every
violation with an RFC 6901 JSON pointer, not just the first. It does no I/O: the
caller passes the clock, the device's limits and its last known SoC.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gridpilot.protocol.battery import BatteryLimits, soc_changes_pct
from gridpilot.protocol.schedule import Interval, Mode, Schedule

MAX_DEVICE_ID_LENGTH = 128
SOC_TOLERANCE_PCT = 1e-6
_SCHEDULE_FIELDS = frozenset({"device_id", "intervals"})
_INTERVAL_FIELDS = frozenset({"start", "end", "mode", "rate_kw"})
_MODES = {1: Mode.CHARGE, 2: Mode.DISCHARGE}
_Span = tuple[datetime, datetime]
_LARGEST_FLOAT = sys.float_info.max


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: where (a JSON pointer into the schedule), a stable code, and a plain message."""

    pointer: str
    code: str
    message: str

    def with_prefix(self, prefix: str) -> Violation:
        """The same violation with its pointer placed under prefix (e.g. '/3' for the 4th schedule of a batch)."""
        return Violation(prefix + self.pointer, self.code, self.message)


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """Operator-configurable bounds on what a schedule may ask for."""

    max_horizon: timedelta = timedelta(days=7)
    max_intervals: int = 2000


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The validated schedule when there is no violation; otherwise every violation found."""

    schedule: Schedule | None
    violations: tuple[Violation, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the schedule broke no rule."""
        return not self.violations


def validate_schedule(
    raw: object,
    *,
    now: datetime,
    limits: BatteryLimits | None = None,
    soc_pct: float | None = None,
    policy: SchedulePolicy = SchedulePolicy(),
) -> ValidationResult:
    """Check a parsed JSON schedule against the wire format, the clock, the device's limits and SoC.

    Without limits (device unknown) power and SoC are not checked. Without a SoC the
    schedule must be feasible from some SoC within the device's range.
    """
    violations: list[Violation] = []
    if not isinstance(raw, dict):
        return ValidationResult(
            None, (Violation("", "type", f"a schedule must be a JSON object, not {json_type(raw)}"),)
        )
    _unknown_fields(raw, _SCHEDULE_FIELDS, "", violations)
    device_id = _device_id(raw, violations)
    intervals = _intervals(raw, now=now, limits=limits, policy=policy, violations=violations)
    if violations or device_id is None or intervals is None:
        return ValidationResult(None, tuple(violations))
    if limits is not None:
        infeasible = _soc_violation(intervals, limits, soc_pct)
        if infeasible is not None:
            return ValidationResult(None, (infeasible,))
    return ValidationResult(Schedule(device_id, tuple(intervals)))


def first_start(raw: object) -> datetime | None:
    """The start of a raw schedule's first interval in UTC when it reads as one (as validate_schedule reads it)."""
    items = raw.get("intervals") if isinstance(raw, dict) else None
    first = items[0] if isinstance(items, list) and items else None
    value = first.get("start") if isinstance(first, dict) else None
    return _timestamp(value, "", "start", []) if isinstance(value, str) else None


def _device_id(raw: dict[str, object], violations: list[Violation]) -> str | None:
    if "device_id" not in raw:
        violations.append(Violation("/device_id", "missing", "device_id is required"))
        return None
    device_id = raw["device_id"]
    if not isinstance(device_id, str):
        violations.append(Violation("/device_id", "type", f"device_id must be a string, not {json_type(device_id)}"))
        return None
    if not 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH:
        violations.append(
            Violation("/device_id", "invalid", f"device_id must have 1 to {MAX_DEVICE_ID_LENGTH} characters")
        )
        return None
    return device_id


def _intervals(
    raw: dict[str, object],
    *,
    now: datetime,
    limits: BatteryLimits | None,
    policy: SchedulePolicy,
    violations: list[Violation],
) -> list[Interval] | None:
    if "intervals" not in raw:
        violations.append(Violation("/intervals", "missing", "intervals is required"))
        return None
    items = raw["intervals"]
    if not isinstance(items, list):
        violations.append(Violation("/intervals", "type", f"intervals must be an array, not {json_type(items)}"))
        return None
    if not items:
        violations.append(Violation("/intervals", "empty", "a schedule needs at least one interval"))
        return None
    if len(items) > policy.max_intervals:
        violations.append(
            Violation("/intervals", "too_many", f"{len(items)} intervals; at most {policy.max_intervals} are allowed")
        )
    horizon_end = now + policy.max_horizon
    ceilings = _rate_ceilings(limits)
    found: list[Interval] = []
    previous: _Span | None = None
    for index, item in enumerate(items):
        interval = _well_formed(item, ceilings)
        if (
            interval is not None
            and now < interval.end <= horizon_end
            and (previous is None or previous[1] <= interval.start)
        ):
            previous = (interval.start, interval.end)
            found.append(interval)
            continue
        where = f"/intervals/{index}"
        span, interval = _interval(item, where, limits, violations)
        if span is None:
            continue
        _check_placement(span, previous, where, now, horizon_end, policy, violations)
        previous = span
        if interval is not None:
            found.append(interval)
    return found


def _check_placement(
    span: _Span,
    previous: _Span | None,
    where: str,
    now: datetime,
    horizon_end: datetime,
    policy: SchedulePolicy,
    violations: list[Violation],
) -> None:
    """The interval lies between now and the horizon, after the previous one and clear of it."""
    start, end = span
    if end <= now:
        violations.append(Violation(f"{where}/end", "in_past", f"the interval ended at {end.isoformat()}, in the past"))
    elif end > horizon_end:
        violations.append(
            Violation(
                f"{where}/end",
                "beyond_horizon",
                f"the interval ends more than {_describe(policy.max_horizon)} ahead (after {horizon_end.isoformat()})",
            )
        )
    if previous is None:
        return
    if start < previous[0]:
        violations.append(
            Violation(
                f"{where}/start",
                "not_sorted",
                "intervals must be sorted by start; this one starts earlier than the one before",
            )
        )
    elif start < previous[1]:
        violations.append(
            Violation(
                f"{where}/start",
                "overlap",
                f"the interval starts before the previous one ends ({previous[1].isoformat()})",
            )
        )


def _rate_ceilings(limits: BatteryLimits | None) -> tuple[float, float, float]:
    """The highest finite rate per mode, indexed by the mode's number (index 0 is unused)."""
    if limits is None:
        return (0.0, _LARGEST_FLOAT, _LARGEST_FLOAT)
    return (0.0, limits.max_charge_kw, limits.max_discharge_kw)


def _well_formed(item: object, ceilings: tuple[float, float, float]) -> Interval | None:
    """The interval when it is plainly valid in the usual form (UTC, Z); else None, and _interval says why.

    A fast path for the common case: a day-ahead batch has a million intervals. It accepts
    nothing that _interval would refuse; the property tests hold both to the same rules.
    """
    if type(item) is not dict or len(item) != len(_INTERVAL_FIELDS):
        return None
    try:
        start = datetime.fromisoformat(item["start"])
        end = datetime.fromisoformat(item["end"])
        mode_value, rate = item["mode"], item["rate_kw"]
    except (KeyError, TypeError, ValueError):
        return None
    if start.tzinfo is not UTC or end.tzinfo is not UTC or not start < end or type(mode_value) is not int:
        return None
    mode = _MODES.get(mode_value)
    if mode is None or (type(rate) is not float and type(rate) is not int):
        return None
    if not 0 < rate <= ceilings[mode]:
        return None
    return Interval(start, end, mode, float(rate))


def _interval(
    item: object, where: str, limits: BatteryLimits | None, violations: list[Violation]
) -> tuple[_Span | None, Interval | None]:
    """The interval's time span when its timestamps are valid, and the interval when all of it is."""
    if not isinstance(item, dict):
        violations.append(Violation(where, "type", f"an interval must be a JSON object, not {json_type(item)}"))
        return None, None
    before = len(violations)
    if len(item) != len(_INTERVAL_FIELDS) or item.keys() != _INTERVAL_FIELDS:
        _unknown_fields(item, _INTERVAL_FIELDS, where, violations)
        for name in ("start", "end", "mode", "rate_kw"):
            if name not in item:
                violations.append(Violation(f"{where}/{name}", "missing", f"{name} is required"))
    start = _timestamp(item["start"], where, "start", violations) if "start" in item else None
    end = _timestamp(item["end"], where, "end", violations) if "end" in item else None
    mode = _mode(item["mode"], where, violations) if "mode" in item else None
    rate_kw = _rate(item["rate_kw"], where, mode, limits, violations) if "rate_kw" in item else None
    if start is None or end is None:
        return None, None
    if start >= end:
        violations.append(Violation(f"{where}/end", "not_after_start", "end must be later than start"))
        return None, None
    if len(violations) > before or mode is None or rate_kw is None:
        return (start, end), None
    return (start, end), Interval(start, end, mode, rate_kw)


def _timestamp(value: object, interval: str, name: str, violations: list[Violation]) -> datetime | None:
    """The timestamp in UTC; pointers are built only for a violation, as this runs twice per interval."""
    if type(value) is not str:
        violations.append(
            Violation(f"{interval}/{name}", "type", f"a timestamp must be an RFC 3339 string, not {json_type(value)}")
        )
        return None
    try:
        moment = datetime.fromisoformat(value)
        zone = moment.tzinfo
        if zone is UTC:
            return moment
    except ValueError:
        violations.append(
            Violation(
                f"{interval}/{name}",
                "invalid_timestamp",
                f"{value[:40]!r} is not an RFC 3339 timestamp (e.g. 2026-01-31T22:00:00Z)",
            )
        )
        return None
    if zone is None:
        violations.append(
            Violation(
                f"{interval}/{name}", "naive_timestamp", f"{value[:40]!r} has no UTC offset; add one (Z or +01:00)"
            )
        )
        return None
    return moment.astimezone(UTC)


def _mode(value: object, interval: str, violations: list[Violation]) -> Mode | None:
    mode = _MODES.get(value) if type(value) is int else None  # type(...) is int: refuses true, 1.0 and "1"
    if mode is None:
        violations.append(
            Violation(
                f"{interval}/mode", "invalid_mode", f"mode must be 1 (charge) or 2 (discharge), not {value!r:.40}"
            )
        )
    return mode


def _rate(
    value: object, interval: str, mode: Mode | None, limits: BatteryLimits | None, violations: list[Violation]
) -> float | None:
    if type(value) is not float and type(value) is not int:  # bool is refused: it is a subclass of int
        violations.append(Violation(f"{interval}/rate_kw", "type", f"rate_kw must be a number, not {json_type(value)}"))
        return None
    rate = float(value)
    if not math.isfinite(rate):
        violations.append(
            Violation(f"{interval}/rate_kw", "not_finite", f"rate_kw must be a finite number, not {value!r}")
        )
        return None
    if rate <= 0:
        violations.append(
            Violation(f"{interval}/rate_kw", "not_positive", f"rate_kw must be greater than 0, not {value!r}")
        )
        return None
    if limits is not None and mode is not None and rate > limits.max_rate_kw(mode):
        what = "charge" if mode is Mode.CHARGE else "discharge"
        violations.append(
            Violation(
                f"{interval}/rate_kw",
                "over_limit",
                f"rate_kw {rate:g} exceeds the device's maximum {what} rate of {limits.max_rate_kw(mode):g} kW",
            )
        )
        return None
    return rate


def _soc_violation(intervals: list[Interval], limits: BatteryLimits, soc_pct: float | None) -> Violation | None:
    """The first interval that would leave [min_soc, max_soc], or None when the schedule is feasible.

    With a known SoC, an interval is infeasible when it ends past a limit in the direction
    it moves (a battery reported below its minimum may still be charged). With an unknown
    SoC, the schedule's cumulative swing must fit between the limits.
    """
    low, high = limits.min_soc_pct - SOC_TOLERANCE_PCT, limits.max_soc_pct + SOC_TOLERANCE_PCT
    if soc_pct is None:
        return _swing_violation(intervals, limits)
    soc = soc_pct
    for index, change in enumerate(soc_changes_pct(intervals, limits)):
        after = soc + change
        if change < 0 and after < low:
            return _infeasible(index, soc, after, f"below the device's minimum of {limits.min_soc_pct:g}%")
        if change > 0 and after > high:
            return _infeasible(index, soc, after, f"above the device's maximum of {limits.max_soc_pct:g}%")
        soc = after
    return None


def _swing_violation(intervals: list[Interval], limits: BatteryLimits) -> Violation | None:
    window = limits.max_soc_pct - limits.min_soc_pct + SOC_TOLERANCE_PCT
    cumulative = lowest = highest = 0.0
    for index, change in enumerate(soc_changes_pct(intervals, limits)):
        cumulative += change
        if cumulative < lowest:
            lowest = cumulative
        elif cumulative > highest:
            highest = cumulative
        if highest - lowest > window:
            return Violation(
                f"/intervals/{index}",
                "soc_infeasible",
                f"by the end of interval {index} the schedule swings the SoC by {highest - lowest:.1f} points, more "
                f"than the device's range of {limits.max_soc_pct - limits.min_soc_pct:g} points allows from any start",
            )
    return None


def _infeasible(index: int, before: float, after: float, limit: str) -> Violation:
    return Violation(
        f"/intervals/{index}",
        "soc_infeasible",
        f"interval {index} would take the SoC from {before:.1f}% to {after:.1f}%, {limit}",
    )


def _unknown_fields(raw: dict[str, object], allowed: frozenset[str], where: str, violations: list[Violation]) -> None:
    for name in raw.keys() - allowed:
        violations.append(Violation(f"{where}/{_escape(name)}", "unknown_field", f"unknown field {name[:40]!r}"))


def _escape(name: object) -> str:
    """A JSON pointer reference token (RFC 6901)."""
    return str(name).replace("~", "~0").replace("/", "~1")


def _describe(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 24 and hours % 24 == 0 else f"{hours:g} hours"


def json_type(value: object) -> str:
    """The JSON type of a parsed value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
