"""Where every received schedule goes, whether it came by HTTP polling or (later) MQTT push.

The device view is checked with the same validator the server uses, against the
device's own limits from the local configuration. A view that fails is reported to the
cloud with its reasons and the schedule in force stays as it is.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from gridpilot.agent._store import LocalInterval, Store
from gridpilot.protocol.battery import BatteryLimits
from gridpilot.protocol.schedule import Mode
from gridpilot.protocol.validation import SchedulePolicy, Violation, json_type, validate_schedule

log = logging.getLogger("gridpilot.agent")
_INTERVAL_POINTER = re.compile(r"^/intervals/(\d+)(.*)$")


def parse_view(
    body: dict[str, Any], *, device_id: str, now: datetime, limits: BatteryLimits, policy: SchedulePolicy
) -> tuple[int, list[LocalInterval]] | list[Violation]:
    """The version and intervals of a device view, or every reason to refuse it.

    Intervals that have already ended are not orders: they are left out of validation, so
    a view fetched a moment before an interval ended is not refused. They are still
    returned (the server lists those not yet acknowledged) so that the agent records the
    ones it never ran as missed.
    """
    violations: list[Violation] = []
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        violations.append(Violation("/version", "invalid", f"version must be an integer >= 0, not {version!r}"))
    if body.get("device_id") != device_id:
        violations.append(
            Violation("/device_id", "invalid", f"the schedule is for {body.get('device_id')!r}, not this device")
        )
    items = body.get("intervals")
    if not isinstance(items, list):
        violations.append(Violation("/intervals", "type", f"intervals must be an array, not {json_type(items)}"))
        return violations
    ids: list[int] = []
    upcoming: list[int] = []
    ended: list[LocalInterval] = []
    for index, item in enumerate(items):
        interval_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(interval_id, bool) or not isinstance(interval_id, int) or interval_id < 1:
            violations.append(
                Violation(f"/intervals/{index}/id", "invalid", "each interval needs a positive integer id")
            )
            interval_id = 0
        ids.append(interval_id)
        past = _ended_interval(item, interval_id, version if isinstance(version, int) else 0, now)
        if past is None:
            upcoming.append(index)
        else:
            ended.append(past)
    if not upcoming and not violations:
        return int(version or 0), ended  # nothing left to execute
    raw = {"device_id": device_id, "intervals": [_wire_interval(items[i]) for i in upcoming]}
    result = validate_schedule(raw, now=now, limits=limits, policy=policy)
    violations.extend(_renumber(v, upcoming) for v in result.violations)
    if violations or result.schedule is None or not isinstance(version, int):
        return violations
    return version, ended + [
        LocalInterval(id=ids[index], version=version, start=i.start, end=i.end, mode=Mode(i.mode), rate_kw=i.rate_kw)
        for index, i in zip(upcoming, result.schedule.intervals, strict=True)
    ]


def _wire_interval(item: object) -> object:
    """The interval as the validator knows it: the view's ids are the agent's business, not the wire format's."""
    return {k: v for k, v in item.items() if k not in ("id", "schedule_id")} if isinstance(item, dict) else item


def receive_view(
    body: dict[str, Any],
    *,
    etag: str | None,
    store: Store,
    device_id: str,
    now: datetime,
    limits: BatteryLimits,
    policy: SchedulePolicy,
) -> bool:
    """Put a valid view in force, or queue the rejection report; True when accepted."""
    parsed = parse_view(body, device_id=device_id, now=now, limits=limits, policy=policy)
    version = body.get("version")
    if isinstance(parsed, list):
        log.warning("schedule version %s refused: %s", version, "; ".join(f"{v.pointer}: {v.message}" for v in parsed))
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:  # the server knows it
            report = {
                "version": version,
                "at": now.isoformat(),
                "violations": [
                    {"pointer": v.pointer, "code": v.code, "message": v.message[:1000]} for v in parsed[:1000]
                ],
            }
            store.enqueue("rejection", report, now)
        store.set_meta(etag=etag or "", rejected_version=str(version))
        return False
    version_number, intervals = parsed
    current = store.meta("schedule_version")
    if current is not None and int(current) > version_number:
        log.warning("ignoring schedule version %s: version %s is already in force", version_number, current)
        return False
    store.replace_schedule(version=version_number, etag=etag or "", intervals=intervals, now=now)
    log.info("schedule version %s in force: %s upcoming intervals", version_number, len(intervals))
    return True


def _ended_interval(item: object, interval_id: int, version: int, now: datetime) -> LocalInterval | None:
    """The interval if it is well formed and already over (to be recorded, never run); None otherwise."""
    if not isinstance(item, dict) or interval_id < 1:
        return None
    try:
        start, end = datetime.fromisoformat(item["start"]), datetime.fromisoformat(item["end"])
        mode, rate_kw = Mode(item["mode"]), float(item["rate_kw"])
    except (KeyError, TypeError, ValueError):
        return None
    if end.tzinfo is None or start.tzinfo is None or end > now:
        return None
    return LocalInterval(id=interval_id, version=version, start=start, end=end, mode=mode, rate_kw=rate_kw)


def _renumber(violation: Violation, upcoming: list[int]) -> Violation:
    """Point a violation found in the filtered list back at the interval's index in the view."""
    match = _INTERVAL_POINTER.match(violation.pointer)
    if match is None:
        return violation
    return Violation(f"/intervals/{upcoming[int(match.group(1))]}{match.group(2)}", violation.code, violation.message)
