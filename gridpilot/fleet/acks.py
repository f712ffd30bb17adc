"""Acknowledgements of executions: idempotent by ack_id, each one moving its interval's status.

On PostgreSQL a batch is written set-based: one statement per table whatever its size, the
values passed as arrays (`unnest`), which costs the worker far less than binding row by row.
Rows that concurrent batches both update (intervals, devices) are locked in id order first,
so two workers' transactions wait for each other but never deadlock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot import observability
from gridpilot.audit import service as audit_service
from gridpilot.auth.schemas import Actor
from gridpilot.fleet.models import Device, Execution, Schedule, ScheduleInterval
from gridpilot.fleet.schemas import AckIn, AckRejected, AckResult

_CHUNK = 1000
_OWNERS = text(
    "SELECT i.id, s.device_id FROM schedule_intervals AS i JOIN schedules AS s ON s.id = i.schedule_id"
    " WHERE i.id = ANY(CAST(:ids AS bigint[]))"
)
_INSERT_EXECUTIONS = text(
    "INSERT INTO executions"
    " (ack_id, device_id, interval_id, status, started_at, ended_at, energy_kwh, soc_pct, message, received_at)"
    " SELECT *, CAST(:received_at AS timestamptz) FROM unnest("
    "CAST(:ack_id AS varchar[]), CAST(:device_id AS varchar[]), CAST(:interval_id AS bigint[]),"
    " CAST(:status AS varchar[]), CAST(:started_at AS timestamptz[]), CAST(:ended_at AS timestamptz[]),"
    " CAST(:energy_kwh AS float8[]), CAST(:soc_pct AS float8[]), CAST(:message AS varchar[]))"
    " ON CONFLICT (ack_id) DO NOTHING RETURNING ack_id"
)
_LOCK_INTERVALS = text(
    "SELECT id FROM schedule_intervals WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE"
)
_MOVE_INTERVALS = text(
    "UPDATE schedule_intervals AS i SET status = u.status, status_at = u.at"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS varchar[]), CAST(:ats AS timestamptz[]))"
    " AS u(id, status, at) WHERE i.id = u.id"
)
_LOCK_DEVICES = text("SELECT id FROM devices WHERE id = ANY(CAST(:ids AS varchar[])) ORDER BY id FOR NO KEY UPDATE")
_UPDATE_SOC = text(
    "UPDATE devices AS d SET last_soc_pct = u.soc, last_soc_at = u.at"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:ats AS timestamptz[]), CAST(:socs AS float8[])) AS u(id, at, soc)"
    " WHERE d.id = u.id AND (d.last_soc_at IS NULL OR d.last_soc_at <= u.at)"
)
_ROW_COLUMNS = (
    "ack_id",
    "device_id",
    "interval_id",
    "status",
    "started_at",
    "ended_at",
    "energy_kwh",
    "soc_pct",
    "message",
)


async def record(*, session: AsyncSession, device_id: str, acks: list[AckIn], actor: Actor, now: datetime) -> AckResult:
    """Store new execution records, count replays, refuse records about other devices' intervals."""
    return (await record_many(session=session, acks_by_device={device_id: acks}, now=now, actors={device_id: actor}))[
        device_id
    ]


async def record_many(
    *,
    session: AsyncSession,
    acks_by_device: dict[str, list[AckIn]],
    now: datetime,
    actors: dict[str, Actor] | None = None,
) -> dict[str, AckResult]:
    """record() for many devices at once, in a fixed number of statements whatever the number of devices.

    A worker's batch holds acks from hundreds of devices; one round of statements per
    device would make it wait on the database hundreds of times.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    interval_ids = sorted({ack.interval_id for acks in acks_by_device.values() for ack in acks})
    owners = await _interval_owners(session=session, interval_ids=interval_ids, postgres=postgres)
    rejected: dict[str, list[AckRejected]] = {device_id: [] for device_id in acks_by_device}
    rows: dict[str, dict[str, object]] = {}
    for device_id, acks in acks_by_device.items():
        for index, ack in enumerate(acks):
            ack_id = str(ack.ack_id)
            if owners.get(ack.interval_id) != device_id:
                detail = f"interval {ack.interval_id} is not an interval of this device"
                rejected[device_id].append(AckRejected(index=index, ack_id=ack_id, detail=detail))
                continue
            if ack_id not in rows:
                rows[ack_id] = _row(ack, ack_id, device_id)
    new_ids = await (_insert_set_based if postgres else _insert_new)(session=session, rows=list(rows.values()), now=now)
    new_rows = [row for ack_id, row in rows.items() if ack_id in new_ids]
    await (_move_intervals_set_based if postgres else _move_intervals)(session=session, rows=new_rows, now=now)
    await (_update_soc_set_based if postgres else _update_soc)(session=session, newest=_newest_soc(new_rows, now))
    new_per_device = Counter(str(row["device_id"]) for row in new_rows)
    results: dict[str, AckResult] = {}
    for device_id, acks in acks_by_device.items():
        new = new_per_device[device_id]
        duplicates = len(acks) - len(rejected[device_id]) - new
        results[device_id] = AckResult(accepted=new, duplicates=duplicates, rejected=rejected[device_id])
        if rejected[device_id]:  # the executions are the record of what was accepted; a refusal is worth an audit
            audit_service.record(
                session=session,
                actor=(actors or {}).get(device_id) or Actor(kind="device", id=device_id, name=device_id),
                action="acks.rejected",
                target_type="device",
                target_id=device_id,
                details={"new": new, "duplicates": duplicates, "rejected": len(rejected[device_id])},
            )
    _count(results.values())
    await session.flush()
    return results


def _row(ack: AckIn, ack_id: str, device_id: str) -> dict[str, object]:
    """The executions row of an accepted record (received_at is the batch's)."""
    return {
        "ack_id": ack_id,
        "device_id": device_id,
        "interval_id": ack.interval_id,
        "status": ack.status.value,
        "started_at": ack.started_at,
        "ended_at": ack.ended_at,
        "energy_kwh": ack.energy_kwh,
        "soc_pct": ack.soc_pct,
        "message": ack.message,
    }


def _count(results: Iterable[AckResult]) -> None:
    """The ack counters, incremented once per batch rather than per device (their labels lookup is not free)."""
    totals = Counter[str]()
    for result in results:
        totals.update(new=result.accepted, duplicate=result.duplicates, rejected=len(result.rejected))
    for outcome in ("new", "duplicate", "rejected"):
        observability.ACKS.labels(outcome).inc(totals[outcome])


async def _interval_owners(*, session: AsyncSession, interval_ids: list[int], postgres: bool) -> dict[int, str]:
    """Which device each interval belongs to (unknown ids are absent)."""
    if postgres:
        return {row[0]: row[1] for row in await session.execute(_OWNERS, {"ids": interval_ids})}
    owners: dict[int, str] = {}
    for i in range(0, len(interval_ids), _CHUNK):
        result = await session.execute(
            select(ScheduleInterval.id, Schedule.device_id)
            .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
            .where(ScheduleInterval.id.in_(interval_ids[i : i + _CHUNK]))
        )
        owners.update((interval_id, device_id) for interval_id, device_id in result)
    return owners


async def _insert_set_based(*, session: AsyncSession, rows: list[dict[str, object]], now: datetime) -> set[str]:
    """_insert_new in one statement on PostgreSQL: each column as an array."""
    if not rows:
        return set()
    columns = {name: [row[name] for row in rows] for name in _ROW_COLUMNS}
    return set(await session.scalars(_INSERT_EXECUTIONS, {**columns, "received_at": now}))


async def _insert_new(*, session: AsyncSession, rows: list[dict[str, object]], now: datetime) -> set[str]:
    """Insert rows whose ack_id is new (SQLite); returns those ack_ids (replays insert nothing)."""
    if not rows:
        return set()
    executions = cast(Table, Execution.__table__)  # Core: the ORM's bulk path costs more than the database here
    statement = (
        sqlite.insert(executions).on_conflict_do_nothing(index_elements=["ack_id"]).returning(executions.c.ack_id)
    )
    return set(await session.scalars(statement, [{**row, "received_at": now} for row in rows]))


def _interval_moves(rows: list[dict[str, object]], now: datetime) -> dict[int, tuple[str, datetime]]:
    """Each interval's status and time after these new records, by interval id in ascending order.

    The last record of an interval wins, as if the records were applied one after another.
    """
    moves: dict[int, tuple[str, datetime]] = {}
    for row in rows:
        at = cast(datetime, row["ended_at"] or row["started_at"] or now)
        moves[cast(int, row["interval_id"])] = (cast(str, row["status"]), at)
    return dict(sorted(moves.items()))


async def _move_intervals_set_based(*, session: AsyncSession, rows: list[dict[str, object]], now: datetime) -> None:
    """Lock the intervals in id order (no deadlock with a concurrent batch), then update them in one statement."""
    moves = _interval_moves(rows, now)
    if not moves:
        return
    ids = list(moves)
    await session.execute(_LOCK_INTERVALS, {"ids": ids})
    statuses, ats = [status for status, _ in moves.values()], [at for _, at in moves.values()]
    await session.execute(_MOVE_INTERVALS, {"ids": ids, "statuses": statuses, "ats": ats})


async def _move_intervals(*, session: AsyncSession, rows: list[dict[str, object]], now: datetime) -> None:
    """Each new record's status onto its interval, in interval id order."""
    moves = _interval_moves(rows, now)
    if not moves:
        return
    intervals = cast(Table, ScheduleInterval.__table__)
    await session.execute(
        update(intervals)
        .where(intervals.c.id == bindparam("interval"))
        .values(status=bindparam("new_status"), status_at=bindparam("at")),
        [{"interval": interval, "new_status": status, "at": at} for interval, (status, at) in moves.items()],
    )


def _newest_soc(rows: list[dict[str, object]], now: datetime) -> dict[str, tuple[datetime, float]]:
    """Each device's newest SoC reading among its new records, by device id in ascending order."""
    newest: dict[str, tuple[datetime, float]] = {}
    for row in rows:
        at = cast(datetime, row["ended_at"] or row["started_at"] or now)
        device_id = str(row["device_id"])
        if row["soc_pct"] is not None and (device_id not in newest or at >= newest[device_id][0]):
            newest[device_id] = (at, cast(float, row["soc_pct"]))
    return dict(sorted(newest.items()))


async def _update_soc_set_based(*, session: AsyncSession, newest: dict[str, tuple[datetime, float]]) -> None:
    """_update_soc in one statement on PostgreSQL, the devices locked in id order first."""
    if not newest:
        return
    ids = list(newest)
    await session.execute(_LOCK_DEVICES, {"ids": ids})
    ats, socs = [at for at, _ in newest.values()], [soc for _, soc in newest.values()]
    await session.execute(_UPDATE_SOC, {"ids": ids, "ats": ats, "socs": socs})


async def _update_soc(*, session: AsyncSession, newest: dict[str, tuple[datetime, float]]) -> None:
    """Keep each device's last known SoC: the newest reading among its new records, unless a newer one is known."""
    if not newest:
        return
    devices = cast(Table, Device.__table__)
    await session.execute(
        update(devices)
        .where(
            devices.c.id == bindparam("device"),
            or_(devices.c.last_soc_at.is_(None), devices.c.last_soc_at <= bindparam("reading_at")),
        )
        .values(last_soc_pct=bindparam("soc"), last_soc_at=bindparam("reading_at")),
        [{"device": device_id, "reading_at": at, "soc": soc} for device_id, (at, soc) in newest.items()],
    )


async def list_for_device(
    *, session: AsyncSession, device_id: str, limit: int, before: tuple[str, str] | None = None
) -> list[Execution]:
    """The device's acknowledgements, most recently received first."""
    query = (
        select(Execution)
        .where(Execution.device_id == device_id)
        .order_by(Execution.received_at.desc(), Execution.ack_id.desc())
        .limit(limit)
    )
    if before is not None:
        received_at, ack_id = datetime.fromisoformat(before[0]), before[1]
        query = query.where(
            (Execution.received_at < received_at)
            | ((Execution.received_at == received_at) & (Execution.ack_id < ack_id))
        )
    return list(await session.scalars(query))
