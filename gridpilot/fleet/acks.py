"""Acknowledgements of executions: idempotent by ack_id, each one moving its interval's status."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot import observability
from gridpilot.audit import service as audit_service
from gridpilot.auth.schemas import Actor
from gridpilot.fleet.models import Device, Execution, Schedule, ScheduleInterval
from gridpilot.fleet.schemas import AckIn, AckRejected, AckResult

_CHUNK = 1000


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
    interval_ids = sorted({ack.interval_id for acks in acks_by_device.values() for ack in acks})
    owners = await _interval_owners(session=session, interval_ids=interval_ids)
    rejected: dict[str, list[AckRejected]] = {device_id: [] for device_id in acks_by_device}
    rows: dict[str, dict[str, object]] = {}
    for device_id, acks in acks_by_device.items():
        for index, ack in enumerate(acks):
            ack_id = str(ack.ack_id)
            if owners.get(ack.interval_id) != device_id:
                detail = f"interval {ack.interval_id} is not an interval of this device"
                rejected[device_id].append(AckRejected(index=index, ack_id=ack_id, detail=detail))
                continue
            rows.setdefault(
                ack_id,
                {
                    **ack.model_dump(exclude={"ack_id"}),
                    "ack_id": ack_id,
                    "device_id": device_id,
                    "status": ack.status.value,
                    "received_at": now,
                },
            )
    new_ids = await _insert_new(session=session, rows=list(rows.values()))
    new_rows = [row for ack_id, row in rows.items() if ack_id in new_ids]
    if new_rows:
        intervals = cast(Table, ScheduleInterval.__table__)
        await session.execute(
            update(intervals)
            .where(intervals.c.id == bindparam("interval"))
            .values(status=bindparam("new_status"), status_at=bindparam("at")),
            [
                {"interval": r["interval_id"], "new_status": r["status"], "at": r["ended_at"] or r["started_at"] or now}
                for r in new_rows
            ],
        )
    new_by_device: dict[str, list[dict[str, object]]] = {device_id: [] for device_id in acks_by_device}
    for row in new_rows:
        new_by_device[str(row["device_id"])].append(row)
    await _update_soc(session=session, rows=new_rows, now=now)
    results: dict[str, AckResult] = {}
    for device_id, acks in acks_by_device.items():
        new = new_by_device[device_id]
        duplicates = len(acks) - len(rejected[device_id]) - len(new)
        results[device_id] = AckResult(accepted=len(new), duplicates=duplicates, rejected=rejected[device_id])
        observability.ACKS.labels("new").inc(len(new))
        observability.ACKS.labels("duplicate").inc(duplicates)
        observability.ACKS.labels("rejected").inc(len(rejected[device_id]))
        if rejected[device_id]:  # the executions are the record of what was accepted; a refusal is worth an audit
            audit_service.record(
                session=session,
                actor=(actors or {}).get(device_id) or Actor(kind="device", id=device_id, name=device_id),
                action="acks.rejected",
                target_type="device",
                target_id=device_id,
                details={"new": len(new), "duplicates": duplicates, "rejected": len(rejected[device_id])},
            )
    await session.flush()
    return results


async def _interval_owners(*, session: AsyncSession, interval_ids: list[int]) -> dict[int, str]:
    owners: dict[int, str] = {}
    for i in range(0, len(interval_ids), _CHUNK):
        result = await session.execute(
            select(ScheduleInterval.id, Schedule.device_id)
            .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
            .where(ScheduleInterval.id.in_(interval_ids[i : i + _CHUNK]))
        )
        owners.update((interval_id, device_id) for interval_id, device_id in result)
    return owners


async def _insert_new(*, session: AsyncSession, rows: list[dict[str, object]]) -> set[str]:
    """Insert rows whose ack_id is new; returns those ack_ids (replays insert nothing)."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    executions = cast(Table, Execution.__table__)  # Core: the ORM's bulk path costs more than the database here
    statement = insert(executions).on_conflict_do_nothing(index_elements=["ack_id"]).returning(executions.c.ack_id)
    return set(await session.scalars(statement, rows))


async def _update_soc(*, session: AsyncSession, rows: list[dict[str, object]], now: datetime) -> None:
    """Keep each device's last known SoC: the newest reading among its new records, unless a newer one is known."""
    newest: dict[str, tuple[datetime, float]] = {}
    for row in rows:
        at = cast(datetime, row["ended_at"] or row["started_at"] or now)
        if row["soc_pct"] is not None and (row["device_id"] not in newest or at >= newest[str(row["device_id"])][0]):
            newest[str(row["device_id"])] = (at, cast(float, row["soc_pct"]))
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
