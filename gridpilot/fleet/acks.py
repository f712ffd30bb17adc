"""Acknowledgements of executions: idempotent by ack_id, each one moving its interval's status."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
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
    devices = {
        device.id: device
        for i in range(0, len(acks_by_device), _CHUNK)
        for device in await session.scalars(select(Device).where(Device.id.in_(list(acks_by_device)[i : i + _CHUNK])))
    }
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
    results: dict[str, AckResult] = {}
    for device_id, acks in acks_by_device.items():
        new = new_by_device[device_id]
        if new and device_id in devices:
            _update_soc(devices[device_id], new, now)
        duplicates = len(acks) - len(rejected[device_id]) - len(new)
        results[device_id] = AckResult(accepted=len(new), duplicates=duplicates, rejected=rejected[device_id])
        observability.ACKS.labels("new").inc(len(new))
        observability.ACKS.labels("duplicate").inc(duplicates)
        observability.ACKS.labels("rejected").inc(len(rejected[device_id]))
        audit_service.record(
            session=session,
            actor=(actors or {}).get(device_id) or Actor(kind="device", id=device_id, name=device_id),
            action="acks.record",
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
    statement = insert(Execution).on_conflict_do_nothing(index_elements=["ack_id"]).returning(Execution.ack_id)
    return set(await session.scalars(statement, rows))


def _update_soc(device: Device, rows: list[dict[str, object]], now: datetime) -> None:
    """Keep the device's last known SoC: the newest reading among the new records."""
    readings = [(r["ended_at"] or r["started_at"] or now, r["soc_pct"]) for r in rows if r["soc_pct"] is not None]
    if not readings:
        return
    at, soc = max(readings, key=lambda reading: reading[0])  # type: ignore[arg-type,return-value]
    if device.last_soc_at is None or at >= device.last_soc_at:  # type: ignore[operator]
        device.last_soc_pct = soc  # type: ignore[assignment]
        device.last_soc_at = at  # type: ignore[assignment]


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
