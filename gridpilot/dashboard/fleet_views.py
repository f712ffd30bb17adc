"""What the fleet pages show, read in a few aggregate queries that stay cheap at 10,000 devices.

The live pulse calls `fleet_summary` every second per server process while anyone watches
the overview, so it is one grouped scan of `devices` joined to two one-row-per-device tables
(the latest heartbeat, the latest telemetry point), never a probe into the big history tables.

A device counts as **faulted** when its agent's latest heartbeat reports a driver state other
than "ok" (fault, or disconnected from the inverter: either way the battery is not under
control) or carries a fault text. That is the last thing the agent said, so an offline device
keeps the fault it last reported; decommissioned devices are never counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from gridpilot.dashboard import fleet_series
from gridpilot.dashboard.fleet_series import TableQuery
from gridpilot.fleet import service as fleet_service
from gridpilot.fleet.models import Device, DeviceHeartbeat, Execution, ScheduleRejection
from gridpilot.fleet.schemas import DeviceStatus
from gridpilot.telemetry.models import TelemetryLatest

FAILED_ACK_STATUSES = ("failed", "missed")
ALERT_WINDOW = timedelta(hours=24)
ALERT_ROWS = 10
_NO_LIMIT = 2**62


def faulted_condition() -> ColumnElement[bool]:
    """The latest heartbeat reports a fault (needs the heartbeat outer-joined)."""
    return and_(
        Device.decommissioned_at.is_(None),
        or_(
            DeviceHeartbeat.driver_state.in_(fleet_series.FAULTED_DRIVER_STATES),
            and_(DeviceHeartbeat.fault.is_not(None), DeviceHeartbeat.fault != ""),
        ),
    )


def soc_expression() -> ColumnElement[float]:
    """The device's newest known SoC: its latest telemetry point, or the last ack's reading if newer."""
    telemetry_newer = and_(
        TelemetryLatest.at.is_not(None), or_(Device.last_soc_at.is_(None), TelemetryLatest.at >= Device.last_soc_at)
    )
    return case((telemetry_newer, TelemetryLatest.soc_pct), else_=Device.last_soc_pct)


def _with_reports(query: Any) -> Any:
    return query.outerjoin(TelemetryLatest, TelemetryLatest.device_id == Device.id).outerjoin(
        DeviceHeartbeat, DeviceHeartbeat.device_id == Device.id
    )


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def fleet_summary(*, session: AsyncSession, now: datetime, liveness: fleet_service.Liveness) -> dict[str, Any]:
    """Devices per status, faulted, fleet power now, energy stored and the SoC histogram: the tiles and the chart.

    Power counts only devices whose latest point is fresh (within the offline timeout): a
    silent device's last reading is not what it does now.
    """
    per_device_query = _with_reports(
        select(
            fleet_service.status_expression(now=now, liveness=liveness).label("status"),
            case((faulted_condition(), 1), else_=0).label("faulted"),
            case((TelemetryLatest.at >= now - liveness.offline_after, TelemetryLatest.power_kw)).label("power"),
            soc_expression().label("soc"),
            Device.capacity_kwh.label("capacity"),
        ).select_from(Device)
    )
    if session.get_bind().dialect.name == "sqlite":
        # A LIMIT keeps SQLite from flattening the subquery into the aggregate, which would evaluate the
        # per-device CASE expressions once per aggregate using them (30 ms instead of 20 at 10,000 devices).
        # PostgreSQL evaluates them once either way, and a LIMIT would make it materialize (40 ms instead of 20).
        per_device_query = per_device_query.limit(_NO_LIMIT)
    per_device = per_device_query.subquery()
    soc, power = per_device.c.soc, per_device.c.power
    bins = [
        _count_if(and_(soc >= low, soc < high) if high < 100 else soc >= low)
        for low, high in fleet_series.soc_bin_edges()
    ]
    query = select(
        per_device.c.status,
        func.count(),
        func.coalesce(func.sum(per_device.c.faulted), 0),
        func.coalesce(func.sum(case((power > 0, power))), 0.0),
        func.coalesce(func.sum(case((power < 0, power))), 0.0),
        func.count(power),
        func.coalesce(func.sum(soc * per_device.c.capacity / 100.0), 0.0),
        func.coalesce(func.sum(case((soc.is_not(None), per_device.c.capacity))), 0.0),
        func.count(soc),
        *bins,
    ).group_by(per_device.c.status)
    rows = [tuple(row) for row in await session.execute(query)]
    return fleet_series.summary_from_groups(rows)


async def device_table(
    *, session: AsyncSession, now: datetime, liveness: fleet_service.Liveness, query: TableQuery
) -> tuple[list[dict[str, Any]], int]:
    """One page of the device table and how many devices match: searched, filtered and sorted in the database."""
    status = fleet_service.status_expression(now=now, liveness=liveness)
    soc = soc_expression()
    conditions: list[ColumnElement[bool]] = []
    if query.q:
        conditions.append(
            or_(Device.id.icontains(query.q, autoescape=True), Device.name.icontains(query.q, autoescape=True))
        )
    if query.site:
        conditions.append(Device.site == query.site)
    if query.status == "faulted":
        conditions.append(faulted_condition())
    elif query.status:
        conditions.append(status == query.status)
    else:
        conditions.append(Device.decommissioned_at.is_(None))
    total = int(await session.scalar(_with_reports(select(func.count()).select_from(Device)).where(*conditions)) or 0)
    columns: dict[str, Any] = {
        "id": Device.id,
        "name": Device.name,
        "site": Device.site,
        "status": status,
        "soc": soc,
        "power": TelemetryLatest.power_kw,
        "last_contact": Device.last_contact_at,
    }
    sort = columns[query.sort]
    ordering = sort.desc() if query.order == "desc" else sort.asc()
    page = min(query.page, max(1, -(-total // query.per_page)))
    rows = await session.execute(
        _with_reports(
            select(
                Device.id,
                Device.name,
                Device.site,
                status,
                soc,
                TelemetryLatest.power_kw,
                TelemetryLatest.at,
                Device.last_contact_at,
                faulted_condition(),
            ).select_from(Device)
        )
        .where(*conditions)
        .order_by(ordering.nulls_last(), Device.id)
        .limit(query.per_page)
        .offset((page - 1) * query.per_page)
    )
    keys = ("id", "name", "site", "status", "soc_pct", "power_kw", "telemetry_at", "last_contact_at", "faulted")
    return [dict(zip(keys, row, strict=True)) for row in rows], total


async def sites(*, session: AsyncSession, limit: int = 200) -> list[str]:
    """The sites of active devices, for the filter's suggestions (the index on site makes it cheap)."""
    query = (
        select(Device.site)
        .where(Device.site.is_not(None), Device.decommissioned_at.is_(None))
        .distinct()
        .order_by(Device.site)
        .limit(limit)
    )
    return [site for site in await session.scalars(query) if site]


@dataclass(frozen=True, slots=True)
class Alerts:
    """What needs an operator's attention now: silent devices, failed executions, refused schedules."""

    offline: list[dict[str, Any]]
    offline_count: int
    failed: list[dict[str, Any]]
    failed_count: int
    rejected: list[dict[str, Any]]
    rejected_count: int


async def alerts(*, session: AsyncSession, now: datetime, liveness: fleet_service.Liveness) -> Alerts:
    """Offline devices (most recently silent first); failed or missed executions and device refusals of 24 h."""
    status = fleet_service.status_expression(now=now, liveness=liveness)
    offline = select(Device.id, Device.name, Device.last_contact_at).where(status == DeviceStatus.OFFLINE.value)
    offline_count = int(await session.scalar(select(func.count()).select_from(offline.subquery())) or 0)
    offline_rows = await session.execute(offline.order_by(Device.last_contact_at.desc(), Device.id).limit(ALERT_ROWS))
    since = now - ALERT_WINDOW
    failed = select(Execution).where(Execution.received_at >= since, Execution.status.in_(FAILED_ACK_STATUSES))
    failed_count = int(await session.scalar(select(func.count()).select_from(failed.subquery())) or 0)
    failed_rows = await session.scalars(failed.order_by(Execution.received_at.desc()).limit(ALERT_ROWS))
    rejected = select(ScheduleRejection).where(ScheduleRejection.received_at >= since)
    rejected_count = int(await session.scalar(select(func.count()).select_from(rejected.subquery())) or 0)
    rejected_rows = await session.scalars(rejected.order_by(ScheduleRejection.received_at.desc()).limit(ALERT_ROWS))
    return Alerts(
        offline=[{"id": i, "name": n, "last_contact_at": at} for i, n, at in offline_rows],
        offline_count=offline_count,
        failed=[
            {
                "device_id": e.device_id,
                "interval_id": e.interval_id,
                "status": e.status,
                "message": e.message,
                "at": e.ended_at or e.received_at,
            }
            for e in failed_rows
        ],
        failed_count=failed_count,
        rejected=[
            {
                "device_id": r.device_id,
                "version": r.version,
                "at": r.reported_at,
                "violations": len(r.violations),
                "first": r.violations[0].get("message") if r.violations else None,
            }
            for r in rejected_rows
        ],
        rejected_count=rejected_count,
    )
