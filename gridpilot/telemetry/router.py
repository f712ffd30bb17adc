"""HTTP routes of telemetry: the device posts its points, the device or an operator reads them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from gridpilot.dependencies import NowDep, SessionDep
from gridpilot.fleet.dependencies import DeviceItself, DeviceOrOperator
from gridpilot.live import events as live_events
from gridpilot.live.dependencies import LiveBusDep
from gridpilot.live.publish import publish_events
from gridpilot.messaging.queue import DeviceQueueDep
from gridpilot.messaging.schemas import QUEUED_RESPONSE, Queued
from gridpilot.protocol.mqtt import Channel, encode
from gridpilot.telemetry import service as telemetry_service
from gridpilot.telemetry.schemas import TelemetryBatchIn, TelemetryPage, TelemetryPointOut, TelemetryResult
from gridpilot.timeutil import UtcDateTime

router = APIRouter(prefix="/api/v1", tags=["telemetry"])


@router.post(
    "/devices/{device_id}/telemetry",
    response_model=TelemetryResult,
    responses={
        422: {"description": "Refused, nothing stored; every violation listed with its JSON pointer"},
        **QUEUED_RESPONSE,
    },
)
async def post_telemetry(
    batch: TelemetryBatchIn,
    access: DeviceItself,
    session: SessionDep,
    now: NowDep,
    queue: DeviceQueueDep,
    bus: LiveBusDep,
) -> TelemetryResult | JSONResponse:
    """Points from the device itself; a replayed point (same device and `at`) is counted, not stored twice.

    With RabbitMQ configured the valid batch is queued (202); a worker stores it (a point too far ahead: the DLQ).
    """
    if queue is not None:
        points = [p.model_dump(mode="json", exclude_none=True) for p in batch.points]
        await queue.put(access.device.id, Channel.TELEMETRY, encode("telemetry", points))
        return JSONResponse(Queued(queued=len(points)).model_dump(), status_code=status.HTTP_202_ACCEPTED)
    result = await telemetry_service.record(session=session, device_id=access.device.id, points=batch.points, now=now)
    await session.commit()
    if batch.points:
        points = [p.model_dump(mode="json", exclude_none=True) for p in batch.points]
        await publish_events(bus, [live_events.telemetry_event(access.device.id, points)])
    return result


@router.get("/devices/{device_id}/telemetry", response_model=TelemetryPage)
async def list_telemetry(
    access: DeviceOrOperator,
    session: SessionDep,
    since: Annotated[UtcDateTime | None, Query(description="Inclusive lower bound on `at`")] = None,
    until: Annotated[UtcDateTime | None, Query(description="Exclusive upper bound on `at`")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many points")] = 1000,
) -> TelemetryPage:
    """The device's points in time order; page with since=<last at> plus a microsecond."""
    rows = await telemetry_service.list_points(
        session=session, device_id=access.device.id, limit=limit, since=since, until=until
    )
    return TelemetryPage(items=[TelemetryPointOut.model_validate(r) for r in rows])
