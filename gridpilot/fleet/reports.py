"""What a device's agent reports about itself: heartbeats, and schedule versions its own validator refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.audit import service as audit_service
from gridpilot.auth.schemas import Actor
from gridpilot.fleet.exceptions import ReportRejected, ScheduleVersionNotFound
from gridpilot.fleet.models import DeviceHeartbeat, Schedule, ScheduleRejection
from gridpilot.fleet.schemas import AgentOut, DeviceRejectionOut, HeartbeatIn, ScheduleRejectionIn, ScheduleSummary
from gridpilot.timeutil import MAX_CLOCK_AHEAD

_CHUNK = 1000


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def record_heartbeat(*, session: AsyncSession, device_id: str, heartbeat: HeartbeatIn, now: datetime) -> None:
    """Keep each device's newest heartbeat; late replays are ignored, one stamped ahead (hiding the rest) refused."""
    await record_heartbeats(session=session, heartbeats={device_id: heartbeat}, now=now)


async def record_heartbeats(*, session: AsyncSession, heartbeats: Mapping[str, HeartbeatIn], now: datetime) -> None:
    """`record_heartbeat` for many devices (a worker's batch), one statement per chunk."""
    rows = []
    for device_id, heartbeat in heartbeats.items():
        if heartbeat.at > now + MAX_CLOCK_AHEAD:
            raise ReportRejected(
                f"the heartbeat is stamped more than {MAX_CLOCK_AHEAD} ahead of the server clock; "
                "check the device's clock",
                errors=[
                    {
                        "pointer": "/at",
                        "code": "in_future",
                        "detail": f"{heartbeat.at.isoformat()} is after {(now + MAX_CLOCK_AHEAD).isoformat()}",
                    }
                ],
            )
        rows.append(
            {**heartbeat.model_dump(), "driver_state": heartbeat.driver_state.value, "device_id": device_id}
            | {"received_at": now}
        )
    if not rows:
        return
    table = cast(Table, DeviceHeartbeat.__table__)
    statement = _insert(session)(table)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id"],
        set_={name: statement.excluded[name] for name in rows[0] if name != "device_id"},
        where=table.c.at < statement.excluded.at,
    )
    # One statement executed for many rows: compiled once and cached, where a multi-row VALUES of a
    # batch's size was compiled anew for every batch (44 % of a worker's samples in a push to 10,000).
    await session.execute(statement, sorted(rows, key=lambda row: row["device_id"]))


async def agent_status(*, session: AsyncSession, device_ids: Sequence[str]) -> dict[str, AgentOut]:
    """The latest heartbeat of each device that sent one, in one query per thousand devices."""
    found: dict[str, AgentOut] = {}
    for i in range(0, len(device_ids), _CHUNK):
        query = select(DeviceHeartbeat).where(DeviceHeartbeat.device_id.in_(device_ids[i : i + _CHUNK]))
        for heartbeat in await session.scalars(query):
            found[heartbeat.device_id] = AgentOut.model_validate(heartbeat)
    return found


async def record_rejection(
    *, session: AsyncSession, device_id: str, rejection: ScheduleRejectionIn, actor: Actor, now: datetime
) -> bool:
    """Store the device's refusal of one of its schedule versions; True when new (a replay is stored once)."""
    schedule_id = await session.scalar(
        select(Schedule.id).where(Schedule.device_id == device_id, Schedule.version == rejection.version)
    )
    if schedule_id is None:
        raise ScheduleVersionNotFound(
            f"device {device_id!r} has no schedule version {rejection.version}", version=rejection.version
        )
    statement = (
        _insert(session)(ScheduleRejection)
        .values(
            device_id=device_id,
            version=rejection.version,
            schedule_id=schedule_id,
            reported_at=rejection.at,
            received_at=now,
            violations=[v.model_dump() for v in rejection.violations],
        )
        .on_conflict_do_nothing(index_elements=["device_id", "version", "reported_at"])
        .returning(ScheduleRejection.id)
    )
    new_id = await session.scalar(statement)
    if new_id is not None:
        audit_service.record(
            session=session,
            actor=actor,
            action="schedules.rejected_by_device",
            target_type="device",
            target_id=device_id,
            details={
                "schedule_id": schedule_id,
                "version": rejection.version,
                "at": rejection.at.isoformat(),
                "codes": sorted({v.code for v in rejection.violations})[:50],
                "violations": len(rejection.violations),
            },
        )
    await session.flush()
    return new_id is not None


async def with_rejections(*, session: AsyncSession, items: list[ScheduleSummary]) -> list[ScheduleSummary]:
    """The history page with each version's latest refusal by the device (or null)."""
    latest: dict[int, DeviceRejectionOut] = {}
    if items:
        query = (
            select(ScheduleRejection)
            .where(ScheduleRejection.schedule_id.in_([item.id for item in items]))
            .order_by(ScheduleRejection.reported_at)
        )
        for row in await session.scalars(query):
            latest[row.schedule_id] = DeviceRejectionOut(at=row.reported_at, violations=row.violations)
    return [item.model_copy(update={"rejected_by_device": latest.get(item.id)}) for item in items]
