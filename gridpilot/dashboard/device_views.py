"""What a device's page shows, read through the fleet's and telemetry's services plus two window queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.fleet import acks as ack_service
from gridpilot.fleet import reports as report_service
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as fleet_service
from gridpilot.fleet.models import Device, Execution, Schedule, ScheduleInterval
from gridpilot.fleet.schemas import AgentOut, DeviceStatus, ScheduleSummary
from gridpilot.telemetry.models import TelemetryLatest, TelemetryPoint

HISTORY_ROWS = 20
EXECUTION_ROWS = 20
MAX_TELEMETRY_ROWS = 50_000  # read at most this many points of a window; the series module thins them for the chart
MAX_TIMELINE_INTERVALS = 5_000


@dataclass(frozen=True, slots=True)
class DevicePage:
    """Everything the device page renders, read in one go."""

    device: Device
    status: DeviceStatus
    agent: AgentOut | None
    latest: TelemetryLatest | None
    history: list[ScheduleSummary]
    executions: list[Execution]
    intervals: list[dict[str, Any]]
    interval_acks: dict[int, dict[str, Any]]
    telemetry: list[tuple[datetime, float, float, float | None]]
    telemetry_truncated: bool


async def device_page(
    *,
    session: AsyncSession,
    device_id: str,
    now: datetime,
    liveness: fleet_service.Liveness,
    since: datetime,
    until: datetime,
) -> DevicePage:
    """The device, its agent's latest report, its command history and its window of plan and telemetry.

    DeviceNotFound if there is no such device.
    """
    device = await fleet_service.get(session=session, device_id=device_id)
    agents = await report_service.agent_status(session=session, device_ids=[device.id])
    history = await schedule_service.history(session=session, device_id=device.id, limit=HISTORY_ROWS, now=now)
    history = await report_service.with_rejections(session=session, items=history)
    executions = await ack_service.list_for_device(session=session, device_id=device.id, limit=EXECUTION_ROWS)
    intervals = await planned_intervals(session=session, device_id=device.id, since=since, until=until)
    telemetry = await telemetry_window(session=session, device_id=device.id, since=since, until=until)
    return DevicePage(
        device=device,
        status=fleet_service.device_status(device, now=now, liveness=liveness),
        agent=agents.get(device.id),
        latest=await session.get(TelemetryLatest, device.id),
        history=history,
        executions=executions,
        intervals=intervals,
        interval_acks=await latest_acks(session=session, interval_ids=[i["id"] for i in intervals]),
        telemetry=telemetry[:MAX_TELEMETRY_ROWS],
        telemetry_truncated=len(telemetry) > MAX_TELEMETRY_ROWS,
    )


async def planned_intervals(
    *, session: AsyncSession, device_id: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The plan in force over the window: every version's intervals up to where a newer version took over.

    An interval a newer version replaced before it ran is not part of the plan any more and
    is left out; one that ran before the takeover stays, cut at the takeover.
    """
    rows = await session.execute(
        select(
            ScheduleInterval.id,
            Schedule.version,
            ScheduleInterval.start,
            ScheduleInterval.end,
            ScheduleInterval.mode,
            ScheduleInterval.rate_kw,
            ScheduleInterval.status,
            ScheduleInterval.status_at,
            Schedule.superseded_from,
        )
        .join(Schedule, Schedule.id == ScheduleInterval.schedule_id)
        .where(
            Schedule.device_id == device_id,
            ScheduleInterval.start < until,
            ScheduleInterval.end > since,
            or_(Schedule.superseded_from.is_(None), ScheduleInterval.start < Schedule.superseded_from),
        )
        .order_by(ScheduleInterval.start, Schedule.version)
        .limit(MAX_TIMELINE_INTERVALS)
    )
    keys = ("id", "version", "start", "end", "mode", "rate_kw", "status", "status_at")
    intervals = []
    for *values, superseded_from in rows:
        interval: dict[str, Any] = dict(zip(keys, values, strict=True))
        if superseded_from is not None and interval["end"] > superseded_from:
            interval["end"] = superseded_from
        intervals.append(interval)
    return intervals


async def latest_acks(*, session: AsyncSession, interval_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each interval's most recent execution record (by the index on interval_id)."""
    found: dict[int, dict[str, Any]] = {}
    for i in range(0, len(interval_ids), 1000):
        rows = await session.scalars(
            select(Execution)
            .where(Execution.interval_id.in_(interval_ids[i : i + 1000]))
            .order_by(Execution.received_at)
        )
        for execution in rows:
            found[execution.interval_id] = {
                "status": execution.status,
                "started_at": execution.started_at,
                "ended_at": execution.ended_at,
                "energy_kwh": execution.energy_kwh,
                "message": execution.message,
            }
    return found


async def telemetry_window(
    *, session: AsyncSession, device_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, float, float, float | None]]:
    """(at, SoC, power, temperature) of the device's points in the window, oldest first, by the primary key.

    Plain tuples, not ORM objects: a day of 10-second points is 8,640 rows per day shown.
    """
    rows = await session.execute(
        select(TelemetryPoint.at, TelemetryPoint.soc_pct, TelemetryPoint.power_kw, TelemetryPoint.temperature_c)
        .where(TelemetryPoint.device_id == device_id, TelemetryPoint.at >= since, TelemetryPoint.at < until)
        .order_by(TelemetryPoint.at)
        .limit(MAX_TELEMETRY_ROWS + 1)
    )
    return [(at, soc, power, temperature) for at, soc, power, temperature in rows]
