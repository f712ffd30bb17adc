"""Schedules: strict validation, versioned storage, the device's view, history.

A new schedule for a device supersedes older versions from its first interval on.
Older rows are never rewritten: each older version records the earliest start from
which a newer one took over (`superseded_from`), and an interval's "superseded" status
is derived from it when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement

from gridpilot import observability
from gridpilot.audit import service as audit_service
from gridpilot.auth.schemas import Actor
from gridpilot.config import Settings
from gridpilot.fleet import service as device_service
from gridpilot.fleet.delivery import delivery_state
from gridpilot.fleet.exceptions import ScheduleConflict, ScheduleNotFound, ScheduleRejected
from gridpilot.fleet.models import Device, Schedule, ScheduleInterval
from gridpilot.fleet.schemas import (
    AcceptedSchedule,
    BatchResult,
    DeliveryOut,
    DeviceScheduleOut,
    IntervalOut,
    IntervalStatus,
    RejectedSchedule,
    ScheduleOut,
    ScheduleSummary,
)
from gridpilot.protocol import (
    BatteryLimits,
    Interval,
    Mode,
    SchedulePolicy,
    Violation,
    first_start,
    newest_soc,
    projected_soc_pct,
    validate_schedule,
)
from gridpilot.protocol import Schedule as ProtocolSchedule
from gridpilot.telemetry import service as telemetry_service


def _derived_status() -> ColumnElement[str]:
    """An interval's status, with pending intervals past their version's takeover shown as superseded."""
    return case(
        (
            and_(
                ScheduleInterval.status == IntervalStatus.PENDING.value,
                Schedule.superseded_from.is_not(None),
                ScheduleInterval.start >= Schedule.superseded_from,
            ),
            IntervalStatus.SUPERSEDED.value,
        ),
        else_=ScheduleInterval.status,
    )


@dataclass(frozen=True, slots=True)
class _Valid:
    index: int
    device: Device
    schedule: ProtocolSchedule


def _device_violations(raw: object, index: int, devices: dict[str, Device], seen: dict[str, int]) -> list[Violation]:
    """The checks only the server can make: the device exists, is active, and appears once per batch."""
    device_id = raw.get("device_id") if isinstance(raw, dict) else None
    if not isinstance(device_id, str):
        return []
    device = devices.get(device_id)
    found: list[Violation] = []
    if device is None:
        found.append(Violation("/device_id", "device_not_found", f"no device with id {device_id!r}"))
    elif device.decommissioned_at is not None:
        found.append(Violation("/device_id", "device_decommissioned", f"device {device_id!r} is decommissioned"))
    if device_id in seen:
        found.append(
            Violation(
                "/device_id", "duplicate_device", f"device {device_id!r} already has a schedule at /{seen[device_id]}"
            )
        )
    else:
        seen[device_id] = index
    return found


def schedule_policy(settings: Settings) -> SchedulePolicy:
    """The validation bounds an operator configured."""
    return SchedulePolicy(
        max_horizon=timedelta(days=settings.schedule_max_horizon_days),
        max_intervals=settings.schedule_max_intervals,
    )


async def submit(
    *,
    session: AsyncSession,
    raws: Sequence[object],
    actor: Actor,
    now: datetime,
    policy: SchedulePolicy,
    batch: bool,
    partial: bool = False,
    source: str = "api",
    replace_from: datetime | None = None,
) -> BatchResult:
    """Validate every schedule and store the valid ones as new versions.

    All-or-nothing unless `partial`: with any violation and not partial, nothing is stored
    and ScheduleRejected lists every violation with its JSON pointer into the request
    (prefixed with /{index} for a batch). With `replace_from`, each new version takes over
    from that instant when it is earlier than its first interval (a re-planned day replaces
    the whole day, also where the new plan starts idle).
    """
    devices = await device_service.get_many(session=session, device_ids=_device_ids(raws), for_update=True)
    expected = await _check_socs(session=session, raws=raws, devices=devices, replace_from=replace_from)
    valid, rejected = _sort_out(raws, devices=devices, expected=expected, now=now, policy=policy, batch=batch)
    observability.SCHEDULES.labels("rejected").inc(len(rejected))
    if rejected and (not partial or not valid):
        errors = [e for r in rejected for e in r.errors]
        what = f"{len(rejected)} of {len(raws)} schedule(s) refused" if batch else "the schedule was refused"
        raise ScheduleRejected(f"{what}; nothing was stored", errors=errors)
    accepted = await _store(
        session=session, valid=valid, actor=actor, now=now, source=source, replace_from=replace_from
    )
    observability.SCHEDULES.labels("accepted").inc(len(accepted))
    audit_service.record(
        session=session,
        actor=actor,
        action="schedules.submit",
        target_type="schedule",
        target_id=accepted[0].device_id if len(accepted) == 1 else None,
        details={
            "accepted": len(accepted),
            "rejected": len(rejected),
            "source": source,
            "devices": [a.device_id for a in accepted[:100]],
        },
    )
    return BatchResult(accepted=accepted, rejected=rejected)


async def clear_from(
    *, session: AsyncSession, device_ids: Sequence[str], from_: datetime, actor: Actor, now: datetime, source: str
) -> list[AcceptedSchedule]:
    """For each active device, a new version with no intervals taking over at `from_`: nothing planned from then.

    The API refuses a schedule without intervals (from a person or a system, one is nearly always a
    mistake); a planner whose new plan for the rest of a day is to stay idle needs exactly that.
    """
    devices = await device_service.get_many(session=session, device_ids=list(device_ids), for_update=True)
    valid = [
        _Valid(index, devices[device_id], ProtocolSchedule(device_id, ()))
        for index, device_id in enumerate(device_ids)
        if device_id in devices and devices[device_id].decommissioned_at is None
    ]
    accepted = await _store(session=session, valid=valid, actor=actor, now=now, source=source, replace_from=from_)
    audit_service.record(
        session=session,
        actor=actor,
        action="schedules.clear",
        target_type="schedule",
        details={"from": from_.isoformat(), "source": source, "devices": [a.device_id for a in accepted[:100]]},
    )
    return accepted


def _device_ids(raws: Sequence[object]) -> list[str]:
    return list(
        dict.fromkeys(r["device_id"] for r in raws if isinstance(r, dict) and isinstance(r.get("device_id"), str))
    )


PROJECTION_LOOKBACK = timedelta(days=2)


async def _check_socs(
    *, session: AsyncSession, raws: Sequence[object], devices: dict[str, Device], replace_from: datetime | None
) -> dict[str, float]:
    """Per device with a SoC reading, the SoC a new schedule is checked from: the one expected at its takeover
    (the schedule's first start, or replace_from if earlier). A plan for tomorrow is checked from where
    today's plan leaves the battery."""
    takeovers: dict[str, datetime] = {}
    for raw in raws:
        device_id = raw.get("device_id") if isinstance(raw, dict) else None
        start = first_start(raw)
        if isinstance(device_id, str) and start is not None:
            takeovers[device_id] = start if replace_from is None else min(start, replace_from)
    active = [d for device_id, d in devices.items() if d.decommissioned_at is None and device_id in takeovers]
    return await expected_device_socs(session=session, devices=active, at=takeovers)


async def expected_device_socs(
    *, session: AsyncSession, devices: Sequence[Device], at: Mapping[str, datetime]
) -> dict[str, float]:
    """Per device with a SoC reading, its SoC expected at its moment in `at` (expected_socs), from the newer of
    the SoC in its last acknowledgement and in its last telemetry point."""
    measured = await telemetry_service.latest_soc(session=session, device_ids=[d.id for d in devices])
    readings: dict[str, tuple[float, datetime]] = {}
    for device in devices:
        reading = newest_soc(device.last_soc_pct, device.last_soc_at, measured.get(device.id))
        if reading is not None:
            readings[device.id] = reading
    limits = {d.id: device_service.battery_limits(d) for d in devices if d.id in readings}
    return await expected_socs(session=session, readings=readings, limits=limits, at=at)


async def expected_socs(
    *,
    session: AsyncSession,
    readings: Mapping[str, tuple[float, datetime]],
    limits: Mapping[str, BatteryLimits],
    at: Mapping[str, datetime],
) -> dict[str, float]:
    """Each device's SoC expected at its moment in `at`: its reading (SoC, measured at) run on through its stored
    intervals in between, stopping at the limits as the agent does (projected_soc_pct).

    Only the intervals of the last PROJECTION_LOOKBACK before the earliest moment are read: a device silent for
    longer has most likely not run its plan, and one such device must not make the query read weeks of every
    device's intervals.
    """
    if not readings:
        return {}
    oldest = min(when for _, when in readings.values())
    since, until = max(oldest, min(at.values()) - PROJECTION_LOOKBACK), max(at.values())
    stored: dict[str, list[Interval]] = {device_id: [] for device_id in readings}
    if since < until:
        for device_id, start, end, mode, rate_kw in await planned_intervals(
            session=session, device_ids=list(readings), start=since, end=until
        ):
            stored[device_id].append(Interval(start, end, Mode(mode), rate_kw))
    return {
        device_id: projected_soc_pct(
            soc_pct, stored[device_id], limits[device_id], since=measured_at, until=at[device_id]
        )
        for device_id, (soc_pct, measured_at) in readings.items()
    }


def _sort_out(
    raws: Sequence[object],
    *,
    devices: dict[str, Device],
    expected: Mapping[str, float],
    now: datetime,
    policy: SchedulePolicy,
    batch: bool,
) -> tuple[list[_Valid], list[RejectedSchedule]]:
    """Every schedule checked against the protocol and its device: the valid ones, and the refused with why."""
    seen: dict[str, int] = {}
    valid: list[_Valid] = []
    rejected: list[RejectedSchedule] = []
    for index, raw in enumerate(raws):
        violations = _device_violations(raw, index, devices, seen)
        device_id = raw.get("device_id") if isinstance(raw, dict) else None
        device = devices.get(device_id) if isinstance(device_id, str) else None
        active = device if device is not None and device.decommissioned_at is None else None
        result = validate_schedule(
            raw,
            now=now,
            limits=device_service.battery_limits(active) if active else None,
            soc_pct=expected.get(active.id) if active else None,
            policy=policy,
        )
        violations.extend(result.violations)
        if violations or active is None or result.schedule is None:
            prefix = f"/{index}" if batch else ""
            rejected.append(
                RejectedSchedule(
                    index=index,
                    device_id=device_id if isinstance(device_id, str) else None,
                    errors=[_problem_error(v.with_prefix(prefix)) for v in violations],
                )
            )
        else:
            valid.append(_Valid(index, active, result.schedule))
    return valid, rejected


async def check(
    *,
    session: AsyncSession,
    raws: Sequence[object],
    now: datetime,
    policy: SchedulePolicy,
    replace_from: datetime | None = None,
) -> list[RejectedSchedule]:
    """What `submit` would refuse (pointers prefixed with /{index}), without storing or locking anything.

    Read-only, for a preview: the same checks as `submit`, so what passes here is stored by `submit`
    unless a device or its SoC changes in between (submit checks again).
    """
    devices = await device_service.get_many(session=session, device_ids=_device_ids(raws))
    expected = await _check_socs(session=session, raws=raws, devices=devices, replace_from=replace_from)
    return _sort_out(raws, devices=devices, expected=expected, now=now, policy=policy, batch=True)[1]


def _problem_error(violation: Violation) -> dict[str, str]:
    return {"pointer": violation.pointer, "code": violation.code, "detail": violation.message}


async def _store(
    *,
    session: AsyncSession,
    valid: list[_Valid],
    actor: Actor,
    now: datetime,
    source: str,
    replace_from: datetime | None = None,
) -> list[AcceptedSchedule]:
    """Insert schedules and intervals in bulk, bump device versions, mark older versions superseded."""
    if not valid:
        return []

    def takeover(item: _Valid) -> datetime:
        if not item.schedule.intervals:  # a clearing version (clear_from) takes over at replace_from
            assert replace_from is not None
            return replace_from
        first = item.schedule.intervals[0].start
        return first if replace_from is None else min(first, replace_from)

    pending = IntervalStatus.PENDING.value
    await _bump_versions(session, [item.device for item in valid])
    try:
        ids = list(
            await session.scalars(
                insert(Schedule).returning(Schedule.id, sort_by_parameter_order=True),
                [
                    {
                        "device_id": item.device.id,
                        "version": item.device.schedule_version,
                        "effective_from": takeover(item),
                        "created_at": now,
                        "created_by": actor.label,
                        "source": source,
                    }
                    for item in valid
                ],
            )
        )
    except IntegrityError:
        raise ScheduleConflict("another schedule for the same device was stored at the same moment; retry") from None
    await _insert_intervals(
        session,
        [
            (schedule_id, position, interval.start, interval.end, int(interval.mode), interval.rate_kw, pending)
            for item, schedule_id in zip(valid, ids, strict=True)
            for position, interval in enumerate(item.schedule.intervals)
        ],
    )
    superseding = [
        {
            "device": item.device.id,
            "new_version": item.device.schedule_version,
            "new_from": takeover(item),
        }
        for item in valid
        if item.device.schedule_version > 1
    ]
    if superseding:
        table = cast(Table, Schedule.__table__)
        await session.execute(
            update(table)
            .where(
                table.c.device_id == bindparam("device"),
                table.c.version < bindparam("new_version"),
                or_(table.c.superseded_from.is_(None), table.c.superseded_from > bindparam("new_from")),
            )
            .values(superseded_from=bindparam("new_from")),
            superseding,
        )
    return [
        AcceptedSchedule(
            index=item.index,
            device_id=item.device.id,
            schedule_id=schedule_id,
            version=item.device.schedule_version,
            intervals=len(item.schedule.intervals),
        )
        for item, schedule_id in zip(valid, ids, strict=True)
    ]


async def _bump_versions(session: AsyncSession, devices: list[Device]) -> None:
    """Each device's schedule_version + 1: one Core UPDATE per thousand devices, and the same in memory.

    The devices are locked (get_many for_update) and appear once each. Bumping them one by one
    through the unit of work, or with the ORM's synchronizing UPDATE, cost 0.5-6 s per 10,000
    devices in ORM bookkeeping.
    """
    table = cast(Table, Device.__table__)
    for i in range(0, len(devices), _VERSION_CHUNK):
        chunk = devices[i : i + _VERSION_CHUNK]
        await session.execute(
            update(table)
            .where(table.c.id.in_([device.id for device in chunk]))
            .values(schedule_version=table.c.schedule_version + 1)
        )
        for device in chunk:
            set_committed_value(device, "schedule_version", device.schedule_version + 1)


_VERSION_CHUNK = 1000
_INTERVAL_COLUMNS = ("schedule_id", "position", "start", "end", "mode", "rate_kw", "status")


async def _insert_intervals(session: AsyncSession, rows: list[tuple[object, ...]]) -> None:
    """COPY on PostgreSQL (a day-ahead batch for 10,000 devices is a million rows); a Core INSERT elsewhere."""
    if not rows:  # only clearing versions
        return
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            ScheduleInterval.__tablename__, records=rows, columns=_INTERVAL_COLUMNS
        )
        return
    table = cast(Table, ScheduleInterval.__table__)
    await connection.execute(insert(table), [dict(zip(_INTERVAL_COLUMNS, row, strict=True)) for row in rows])


async def get(*, session: AsyncSession, schedule_id: int) -> ScheduleOut:
    """A stored schedule version with every interval's status."""
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise ScheduleNotFound(f"no schedule with id {schedule_id}")
    rows = await session.execute(
        select(ScheduleInterval, _derived_status())
        .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
        .where(ScheduleInterval.schedule_id == schedule_id)
        .order_by(ScheduleInterval.position)
    )
    return ScheduleOut(
        id=schedule.id,
        device_id=schedule.device_id,
        version=schedule.version,
        effective_from=schedule.effective_from,
        superseded_from=schedule.superseded_from,
        created_at=schedule.created_at,
        created_by=schedule.created_by,
        source=schedule.source,
        intervals=[
            IntervalOut(
                id=interval.id,
                start=interval.start,
                end=interval.end,
                mode=interval.mode,
                rate_kw=interval.rate_kw,
                status=IntervalStatus(status),
                status_at=interval.status_at,
            )
            for interval, status in rows
        ],
    )


# Built once: the polling path runs it for every poll that is not answered 304.
UNACKED_LOOKBACK = timedelta(hours=24)
_VIEW_CHUNK = 1000
_VIEW_CONDITIONS = (
    or_(Schedule.superseded_from.is_(None), Schedule.superseded_from > bindparam("since")),
    ScheduleInterval.end > bindparam("since"),
    or_(ScheduleInterval.end > bindparam("now"), ScheduleInterval.status == "pending"),
    or_(Schedule.superseded_from.is_(None), ScheduleInterval.start < Schedule.superseded_from),
)
_VIEW_COLUMNS = (
    ScheduleInterval.id,
    ScheduleInterval.schedule_id,
    ScheduleInterval.start,
    ScheduleInterval.end,
    ScheduleInterval.mode,
    ScheduleInterval.rate_kw,
    Schedule.superseded_from,
)
_DEVICE_VIEW = (
    select(*_VIEW_COLUMNS)
    .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
    .where(Schedule.device_id == bindparam("device_id"), *_VIEW_CONDITIONS)
    .order_by(ScheduleInterval.start)
)
_DEVICES_VIEWS = (
    select(Schedule.device_id, *_VIEW_COLUMNS)
    .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
    .where(Schedule.device_id.in_(bindparam("device_ids", expanding=True)), *_VIEW_CONDITIONS)
    .order_by(Schedule.device_id, ScheduleInterval.start)
)


async def device_view(*, session: AsyncSession, device: device_service.DeviceRef, now: datetime) -> DeviceScheduleOut:
    """The active and upcoming intervals of the device's plan, across versions, cut where newer ones take over.

    Intervals that ended in the last UNACKED_LOOKBACK without an ack are included too: a
    device back from an outage learns of them and reports them missed instead of never.

    The version is the one read before the intervals: a version stored in between shows
    in the intervals first, so the device at worst fetches the same plan once more.
    """
    rows = await session.execute(_DEVICE_VIEW, {"device_id": device.id, "now": now, "since": now - UNACKED_LOOKBACK})
    return _view(device.id, device.schedule_version, rows)


async def device_views(*, session: AsyncSession, device_ids: list[str], now: datetime) -> list[DeviceScheduleOut]:
    """device_view for many devices in a few queries (what a push of a whole batch needs)."""
    views: list[DeviceScheduleOut] = []
    for i in range(0, len(device_ids), _VIEW_CHUNK):
        chunk = device_ids[i : i + _VIEW_CHUNK]
        versions = dict(
            (await session.execute(select(Device.id, Device.schedule_version).where(Device.id.in_(chunk)))).all()
        )
        rows = await session.execute(_DEVICES_VIEWS, {"device_ids": chunk, "now": now, "since": now - UNACKED_LOOKBACK})
        by_device: dict[str, list[tuple[Any, ...]]] = {device_id: [] for device_id in versions}
        for device_id, *interval in rows:
            by_device[device_id].append(tuple(interval))
        views.extend(_view(device_id, versions[device_id], by_device[device_id]) for device_id in by_device)
    return views


def _view(device_id: str, version: int, rows: Iterable[Sequence[Any]]) -> DeviceScheduleOut:
    return DeviceScheduleOut.model_validate(
        {
            "device_id": device_id,
            "version": version,
            "intervals": [
                {
                    "id": interval_id,
                    "schedule_id": schedule_id,
                    "start": start,
                    "end": end if superseded_from is None else min(end, superseded_from),
                    "mode": mode,
                    "rate_kw": rate_kw,
                }
                for interval_id, schedule_id, start, end, mode, rate_kw, superseded_from in rows
            ],
        }
    )


def view_etag(device_id: str, schedule_version: int) -> str:
    """A weak ETag for the device's view: it changes exactly when a new version is stored.

    Weak, because intervals that end drop out of the view as time passes without the tag
    changing; a device that holds the tagged version already knows they are over.
    """
    return f'W/"{device_id}-v{schedule_version}"'


async def history(
    *, session: AsyncSession, device_id: str, limit: int, now: datetime, before_version: int | None = None
) -> list[ScheduleSummary]:
    """The device's schedule versions, newest first, with interval counts per status and the delivery state."""
    query = select(Schedule).where(Schedule.device_id == device_id).order_by(Schedule.version.desc()).limit(limit)
    if before_version is not None:
        query = query.where(Schedule.version < before_version)
    schedules = list(await session.scalars(query))
    counts: dict[int, dict[str, int]] = {s.id: {} for s in schedules}
    last_end: dict[int, datetime] = {}
    if schedules:
        last_end = dict(
            (
                await session.execute(
                    select(ScheduleInterval.schedule_id, func.max(ScheduleInterval.end))
                    .where(ScheduleInterval.schedule_id.in_(counts))
                    .group_by(ScheduleInterval.schedule_id)
                )
            ).all()
        )
        status = _derived_status()
        for schedule_id, name, count in await session.execute(
            select(ScheduleInterval.schedule_id, status, func.count())
            .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
            .where(ScheduleInterval.schedule_id.in_(counts))
            .group_by(ScheduleInterval.schedule_id, status)
        ):
            counts[schedule_id][name] = count
    return [
        ScheduleSummary(
            id=s.id,
            version=s.version,
            effective_from=s.effective_from,
            superseded_from=s.superseded_from,
            created_at=s.created_at,
            created_by=s.created_by,
            source=s.source,
            interval_counts=counts[s.id],
            delivery=DeliveryOut(
                state=delivery_state(
                    sent_at=s.sent_at,
                    delivered_at=s.delivered_at,
                    interval_counts=counts[s.id],
                    last_end=last_end.get(s.id),
                    now=now,
                ),
                queued_at=s.created_at,
                sent_at=s.sent_at,
                delivered_at=s.delivered_at,
            ),
        )
        for s in schedules
    ]


async def mark_sent(*, session: AsyncSession, sent: list[tuple[str, int]], now: datetime) -> None:
    """Record that these (device, version) views reached the push channel: that version and older ones are sent."""
    if sent:
        schedules = cast(Table, Schedule.__table__)  # Core: an executemany, not the ORM's bulk update by primary key
        await session.execute(
            update(schedules)
            .where(
                schedules.c.device_id == bindparam("device"),
                schedules.c.version <= bindparam("upto"),
                schedules.c.sent_at.is_(None),
            )
            .values(sent_at=now),
            [{"device": device_id, "upto": version} for device_id, version in sent],
        )


async def unsent_device_ids(*, session: AsyncSession, since: datetime) -> list[str]:
    """Devices with a schedule created since `since` that the push channel never confirmed (sent_at marks a version
    and every older one, so an unsent version means the newest is unsent too)."""
    rows = await session.scalars(
        select(Schedule.device_id).where(Schedule.sent_at.is_(None), Schedule.created_at >= since).distinct()
    )
    return sorted(rows)


async def mark_delivered(*, session: AsyncSession, device_id: str, version: int, now: datetime) -> int:
    """The device reported `version` in force: it and every older version are delivered. Returns how many changed."""
    return await mark_delivered_many(session=session, versions={device_id: version}, now=now)


async def mark_delivered_many(*, session: AsyncSession, versions: Mapping[str, int], now: datetime) -> int:
    """`mark_delivered` for many devices (a worker's batch of heartbeats): one read and one update per chunk."""
    changed = 0
    device_ids = sorted(versions)
    schedules = cast(Table, Schedule.__table__)
    for i in range(0, len(device_ids), 1000):
        chunk = device_ids[i : i + 1000]
        rows = await session.execute(
            select(Schedule.device_id, Schedule.version, Schedule.created_at).where(
                Schedule.device_id.in_(chunk), Schedule.delivered_at.is_(None)
            )
        )
        created = [at for device_id, version, at in rows if version <= versions[device_id]]
        if not created:
            continue
        await session.execute(
            update(schedules)
            .where(
                schedules.c.device_id == bindparam("device"),
                schedules.c.version <= bindparam("upto"),
                schedules.c.delivered_at.is_(None),
            )
            .values(delivered_at=now, sent_at=func.coalesce(schedules.c.sent_at, now)),
            [{"device": device_id, "upto": versions[device_id]} for device_id in chunk],
        )
        for queued_at in created:
            observability.SCHEDULE_DELIVERY.observe(max(0.0, (now - queued_at).total_seconds()))
        changed += len(created)
    return changed


async def planned_intervals(
    *, session: AsyncSession, device_ids: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime, int, float]]:
    """(device, start, end, mode, rate) of every planned interval overlapping [start, end), past ones included.

    Read-only, for charts of what was planned: each version's intervals end where a newer version took
    over (as in the device's view), so every moment is counted once whatever it executed.
    """
    found: list[tuple[str, datetime, datetime, int, float]] = []
    ids = list(device_ids)
    for i in range(0, len(ids), _VIEW_CHUNK):
        rows = await session.execute(
            select(
                Schedule.device_id,
                ScheduleInterval.start,
                ScheduleInterval.end,
                ScheduleInterval.mode,
                ScheduleInterval.rate_kw,
                Schedule.superseded_from,
            )
            .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
            .where(
                Schedule.device_id.in_(ids[i : i + _VIEW_CHUNK]),
                ScheduleInterval.start < end,
                ScheduleInterval.end > start,
                or_(Schedule.superseded_from.is_(None), ScheduleInterval.start < Schedule.superseded_from),
            )
            .order_by(Schedule.device_id, ScheduleInterval.start)
        )
        for device_id, first, last, mode, rate_kw, superseded_from in rows:
            cut = last if superseded_from is None else min(last, superseded_from)
            found.append((device_id, first, cut, mode, rate_kw))
    return found
