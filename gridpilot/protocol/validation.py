"""Strict schedule validation, shared by the cloud (on submit) and the agent (on receipt).

validate_schedule takes the parsed JSON as it came (any shape) and reports every
violation with an RFC 6901 JSON pointer, not just the first. It does no I/O: the
caller passes the clock, the device's limits and its last known SoC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gridpilot.protocol.battery import BatteryLimits, soc_change_pct
from gridpilot.protocol.schedule import Interval, Mode, Schedule

MAX_DEVICE_ID_LENGTH = 128
SOC_TOLERANCE_PCT = 1e-6
_SCHEDULE_FIELDS = frozenset({"device_id", "intervals"})
_INTERVAL_FIELDS = frozenset({"start", "end", "mode", "rate_kw"})
_MODES = {1: Mode.CHARGE, 2: Mode.DISCHARGE}


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
        return ValidationResult(None, (Violation("", "type", f"a schedule must be a JSON object, not {_kind(raw)}"),))
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


def _device_id(raw: dict[str, object], violations: list[Violation]) -> str | None:
    if "device_id" not in raw:
        violations.append(Violation("/device_id", "missing", "device_id is required"))
        return None
    device_id = raw["device_id"]
    if not isinstance(device_id, str):
        violations.append(Violation("/device_id", "type", f"device_id must be a string, not {_kind(device_id)}"))
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
        violations.append(Violation("/intervals", "type", f"intervals must be an array, not {_kind(items)}"))
        return None
    if not items:
        violations.append(Violation("/intervals", "empty", "a schedule needs at least one interval"))
        return None
    if len(items) > policy.max_intervals:
        violations.append(
            Violation("/intervals", "too_many", f"{len(items)} intervals; at most {policy.max_intervals} are allowed")
        )
    horizon_end = now + policy.max_horizon
    found: list[Interval] = []
    previous: Interval | None = None
    for index, item in enumerate(items):
        interval = _interval(item, f"/intervals/{index}", limits, violations)
        if interval is None:
            continue
        where = f"/intervals/{index}"
        if interval.end <= now:
            violations.append(
                Violation(f"{where}/end", "in_past", f"the interval ended at {interval.end.isoformat()}, in the past")
            )
        elif interval.end > horizon_end:
            violations.append(
                Violation(
                    f"{where}/end",
                    "beyond_horizon",
                    f"the interval ends more than {_describe(policy.max_horizon)} ahead"
                    f" (after {horizon_end.isoformat()})",
                )
            )
        if previous is not None:
            if interval.start < previous.start:
                violations.append(
                    Violation(
                        f"{where}/start",
                        "not_sorted",
                        "intervals must be sorted by start; this one starts earlier than the one before",
                    )
                )
            elif interval.start < previous.end:
                violations.append(
                    Violation(
                        f"{where}/start",
                        "overlap",
                        f"the interval starts before the previous one ends ({previous.end.isoformat()})",
                    )
                )
        previous = interval
        found.append(interval)
    return found


def _interval(item: object, where: str, limits: BatteryLimits | None, violations: list[Violation]) -> Interval | None:
    """One interval, or None after recording why it is not one."""
    if not isinstance(item, dict):
        violations.append(Violation(where, "type", f"an interval must be a JSON object, not {_kind(item)}"))
        return None
    before = len(violations)
    if len(item) != len(_INTERVAL_FIELDS) or item.keys() != _INTERVAL_FIELDS:
        _unknown_fields(item, _INTERVAL_FIELDS, where, violations)
        for name in ("start", "end", "mode", "rate_kw"):
            if name not in item:
                violations.append(Violation(f"{where}/{name}", "missing", f"{name} is required"))
    start = _timestamp(item.get("start"), f"{where}/start", violations) if "start" in item else None
    end = _timestamp(item.get("end"), f"{where}/end", violations) if "end" in item else None
    mode = _mode(item["mode"], f"{where}/mode", violations) if "mode" in item else None
    rate_kw = _rate(item["rate_kw"], f"{where}/rate_kw", mode, limits, violations) if "rate_kw" in item else None
    if start is not None and end is not None and start >= end:
        violations.append(Violation(f"{where}/end", "not_after_start", "end must be later than start"))
    if len(violations) > before or start is None or end is None or mode is None or rate_kw is None:
        return None
    return Interval(start, end, mode, rate_kw)


def _timestamp(value: object, where: str, violations: list[Violation]) -> datetime | None:
    if not isinstance(value, str):
        violations.append(Violation(where, "type", f"a timestamp must be an RFC 3339 string, not {_kind(value)}"))
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        violations.append(
            Violation(
                where, "invalid_timestamp", f"{value[:40]!r} is not an RFC 3339 timestamp (e.g. 2026-01-31T22:00:00Z)"
            )
        )
        return None
    offset = moment.utcoffset()
    if offset is None:
        violations.append(
            Violation(where, "naive_timestamp", f"{value[:40]!r} has no UTC offset; add one (Z or +01:00)")
        )
        return None
    return moment if offset == timedelta(0) and moment.tzinfo is UTC else moment.astimezone(UTC)


def _mode(value: object, where: str, violations: list[Violation]) -> Mode | None:
    mode = _MODES.get(value) if type(value) is int else None  # type(...) is int: refuses true, 1.0 and "1"
    if mode is None:
        violations.append(
            Violation(where, "invalid_mode", f"mode must be 1 (charge) or 2 (discharge), not {value!r:.40}")
        )
    return mode


def _rate(
    value: object, where: str, mode: Mode | None, limits: BatteryLimits | None, violations: list[Violation]
) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        violations.append(Violation(where, "type", f"rate_kw must be a number, not {_kind(value)}"))
        return None
    rate = float(value)
    if not math.isfinite(rate):
        violations.append(Violation(where, "not_finite", f"rate_kw must be a finite number, not {value!r}"))
        return None
    if rate <= 0:
        violations.append(Violation(where, "not_positive", f"rate_kw must be greater than 0, not {value!r}"))
        return None
    if limits is not None and mode is not None and rate > limits.max_rate_kw(mode):
        what = "charge" if mode is Mode.CHARGE else "discharge"
        violations.append(
            Violation(
                where,
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
    for index, interval in enumerate(intervals):
        after = soc + soc_change_pct(interval, limits)
        if interval.mode is Mode.DISCHARGE and after < low:
            return _infeasible(index, soc, after, f"below the device's minimum of {limits.min_soc_pct:g}%")
        if interval.mode is Mode.CHARGE and after > high:
            return _infeasible(index, soc, after, f"above the device's maximum of {limits.max_soc_pct:g}%")
        soc = after
    return None


def _swing_violation(intervals: list[Interval], limits: BatteryLimits) -> Violation | None:
    window = limits.max_soc_pct - limits.min_soc_pct + SOC_TOLERANCE_PCT
    cumulative = lowest = highest = 0.0
    for index, interval in enumerate(intervals):
        cumulative += soc_change_pct(interval, limits)
        lowest, highest = min(lowest, cumulative), max(highest, cumulative)
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


def _kind(value: object) -> str:
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
