"""Telemetry: idempotent ingestion of a device's points and reads by time range."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.telemetry.exceptions import TelemetryRejected
from gridpilot.telemetry.models import TelemetryLatest, TelemetryPoint
from gridpilot.telemetry.schemas import TelemetryPointIn, TelemetryResult
from gridpilot.timeutil import MAX_CLOCK_AHEAD

_CHUNK = 1000  # 9 parameters a row stays far below SQLite's and asyncpg's limits


async def record(
    *, session: AsyncSession, device_id: str, points: Sequence[TelemetryPointIn], now: datetime
) -> TelemetryResult:
    """Store the points not stored yet; the whole batch is refused if any point is stamped in the future."""
    rows = _rows(device_id, points, now)
    accepted = await _insert_new(session=session, rows=rows)
    await _keep_latest(session=session, rows=rows)
    await session.flush()
    return TelemetryResult(accepted=accepted, duplicates=len(points) - accepted)


async def record_many(
    *, session: AsyncSession, points_by_device: Mapping[str, Sequence[TelemetryPointIn]], now: datetime
) -> int:
    """`record` for many devices in one insert per chunk (a worker's batch); returns how many points were new."""
    rows = [row for device_id, points in points_by_device.items() for row in _rows(device_id, points, now)]
    accepted = await _insert_new(session=session, rows=rows)
    await _keep_latest(session=session, rows=rows)
    await session.flush()
    return accepted


def _rows(device_id: str, points: Sequence[TelemetryPointIn], now: datetime) -> list[dict[str, object]]:
    """The rows of one device's points, one per time; TelemetryRejected if any is stamped in the future."""
    horizon = now + MAX_CLOCK_AHEAD
    future = [
        {
            "pointer": f"/points/{index}/at",
            "code": "in_future",
            "detail": f"{point.at.isoformat()} is more than {MAX_CLOCK_AHEAD} after the server's {now.isoformat()}",
        }
        for index, point in enumerate(points)
        if point.at > horizon
    ]
    if future:
        raise TelemetryRejected(
            f"{len(future)} point(s) stamped in the future; check the device's clock", errors=future
        )
    rows: dict[datetime, dict[str, object]] = {}
    for point in points:
        rows.setdefault(
            point.at, {**point.model_dump(), "state": point.state.value, "device_id": device_id, "received_at": now}
        )
    return list(rows.values())


async def _insert_new(*, session: AsyncSession, rows: list[dict[str, object]]) -> int:
    """Insert the rows whose (device_id, at) is new, in chunks; returns how many were new."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    points = cast(Table, TelemetryPoint.__table__)  # Core: the ORM's bulk path costs more than the database here
    statement = insert(points).on_conflict_do_nothing(index_elements=["device_id", "at"]).returning(points.c.at)
    new = 0
    for i in range(0, len(rows), _CHUNK):
        new += len((await session.scalars(statement, rows[i : i + _CHUNK])).all())
    return new


_LATEST_FIELDS = ("device_id", "at", "soc_pct", "power_kw", "temperature_c", "state")


async def _keep_latest(*, session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Move each device's newest point into telemetry_latest, unless a newer one is there already.

    Rows go in device order, so that two workers upserting overlapping devices on
    PostgreSQL take their row locks in the same order (no deadlock).
    """
    newest: dict[str, dict[str, object]] = {}
    for row in rows:
        device_id = str(row["device_id"])
        if device_id not in newest or cast(datetime, row["at"]) > cast(datetime, newest[device_id]["at"]):
            newest[device_id] = {field: row.get(field) for field in _LATEST_FIELDS}
    ordered = [newest[device_id] for device_id in sorted(newest)]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    latest = cast(Table, TelemetryLatest.__table__)
    for i in range(0, len(ordered), _CHUNK):
        statement = insert(latest).values(ordered[i : i + _CHUNK])
        statement = statement.on_conflict_do_update(
            index_elements=["device_id"],
            set_={field: statement.excluded[field] for field in _LATEST_FIELDS if field != "device_id"},
            where=latest.c.at < statement.excluded.at,
        )
        await session.execute(statement)


async def latest_soc(*, session: AsyncSession, device_ids: Sequence[str]) -> dict[str, tuple[float, datetime]]:
    """Each device's newest reported SoC and when it was measured (devices that never reported are left out)."""
    if not device_ids:
        return {}
    rows = await session.execute(
        select(TelemetryLatest.device_id, TelemetryLatest.soc_pct, TelemetryLatest.at).where(
            TelemetryLatest.device_id.in_(list(device_ids))
        )
    )
    return {device_id: (soc, at) for device_id, soc, at in rows}


async def list_points(
    *, session: AsyncSession, device_id: str, limit: int, since: datetime | None = None, until: datetime | None = None
) -> list[TelemetryPoint]:
    """The device's points in time order, `since` inclusive, `until` exclusive."""
    query = select(TelemetryPoint).where(TelemetryPoint.device_id == device_id).order_by(TelemetryPoint.at).limit(limit)
    if since is not None:
        query = query.where(TelemetryPoint.at >= since)
    if until is not None:
        query = query.where(TelemetryPoint.at < until)
    return list(await session.scalars(query))
