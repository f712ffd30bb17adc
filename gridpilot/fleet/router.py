"""HTTP routes of the fleet: devices, schedules, the device's own view, acks and agent reports."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.dependencies import CurrentAdmin, CurrentOperator
from gridpilot.config import Settings
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.fleet import acks as ack_service
from gridpilot.fleet import distribution
from gridpilot.fleet import reports as report_service
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as device_service
from gridpilot.fleet.dependencies import DeviceItself, DeviceOrOperator, PathDevice
from gridpilot.fleet.exceptions import BatchTooLarge, ScheduleRejected
from gridpilot.fleet.models import Device
from gridpilot.fleet.schemas import (
    AckBatchIn,
    AckResult,
    BatchResult,
    DeviceCredentialOut,
    DeviceIn,
    DeviceOut,
    DevicePage,
    DeviceRegistered,
    DeviceScheduleOut,
    DeviceStatus,
    DeviceUpdate,
    ExecutionOut,
    ExecutionPage,
    HeartbeatIn,
    RejectionRecorded,
    ScheduleOut,
    SchedulePage,
    ScheduleRejectionIn,
)
from gridpilot.live import events as live_events
from gridpilot.live.dependencies import LiveBusDep
from gridpilot.live.publish import publish_events
from gridpilot.messaging.queue import DeviceQueueDep
from gridpilot.messaging.schemas import QUEUED_RESPONSE, Queued
from gridpilot.pagination import InvalidCursor, decode_cursor, encode_cursor
from gridpilot.problem import DomainError
from gridpilot.protocol.mqtt import Channel, encode

router = APIRouter(prefix="/api/v1", tags=["fleet"])
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


def _liveness(settings: SettingsDep) -> device_service.Liveness:
    return device_service.liveness(settings)


async def _device_out(*, session: AsyncSession, device: Device, settings: Settings, now: datetime) -> DeviceOut:
    agents = await report_service.agent_status(session=session, device_ids=[device.id])
    return device_service.device_out(device, now=now, liveness=_liveness(settings), agent=agents.get(device.id))


@router.post("/devices", status_code=status.HTTP_201_CREATED, response_model=DeviceRegistered)
async def register_device(
    device_in: DeviceIn, actor: CurrentAdmin, session: SessionDep, settings: SettingsDep, now: NowDep
) -> DeviceRegistered:
    """Register a device; the answer carries its credential, shown this once."""
    device, credential = await device_service.register(session=session, device_in=device_in, actor=actor, now=now)
    await session.commit()
    out = device_service.device_out(device, now=now, liveness=_liveness(settings))
    return DeviceRegistered(**out.model_dump(), credential=credential)


@router.get("/devices", response_model=DevicePage)
async def list_devices(
    _: CurrentOperator,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    site: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    status: DeviceStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> DevicePage:
    """Devices by id, filtered by site, tag and status; decommissioned ones only with status=decommissioned."""
    after = str(decode_cursor(cursor, str)) if cursor else None
    devices = await device_service.list_devices(
        session=session,
        now=now,
        liveness=_liveness(settings),
        limit=limit,
        after_id=after,
        site=site,
        tag=tag,
        status=status,
    )
    agents = await report_service.agent_status(session=session, device_ids=[d.id for d in devices])
    liveness = _liveness(settings)
    items = [device_service.device_out(d, now=now, liveness=liveness, agent=agents.get(d.id)) for d in devices]
    return DevicePage(items=items, next_cursor=encode_cursor(devices[-1].id) if len(devices) == limit else None)


@router.get("/devices/{device_id}", response_model=DeviceOut)
async def get_device(
    device: PathDevice, _: CurrentOperator, session: SessionDep, settings: SettingsDep, now: NowDep
) -> DeviceOut:
    """One device with its status, last contact and its agent's latest heartbeat."""
    return await _device_out(session=session, device=device, settings=settings, now=now)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
async def update_device(
    device: PathDevice,
    changes: DeviceUpdate,
    actor: CurrentAdmin,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> DeviceOut:
    """Change a device's name, site, limits, time zone or tags."""
    await device_service.update_device(session=session, device=device, changes=changes, actor=actor, now=now)
    out = await _device_out(session=session, device=device, settings=settings, now=now)
    await session.commit()
    return out


@router.post("/devices/{device_id}/decommission", response_model=DeviceOut)
async def decommission_device(
    device: PathDevice, actor: CurrentAdmin, session: SessionDep, settings: SettingsDep, now: NowDep
) -> DeviceOut:
    """Retire a device: its credentials stop working, its history stays."""
    await device_service.decommission(session=session, device=device, actor=actor, now=now)
    out = await _device_out(session=session, device=device, settings=settings, now=now)
    await session.commit()
    return out


@router.post("/devices/{device_id}/credentials", response_model=DeviceCredentialOut, status_code=201)
async def rotate_device_credential(
    device: PathDevice, actor: CurrentAdmin, session: SessionDep, now: NowDep
) -> DeviceCredentialOut:
    """Revoke the device's credentials and issue a new one, shown this once."""
    credential = await device_service.rotate_credential(session=session, device=device, actor=actor, now=now)
    await session.commit()
    return DeviceCredentialOut(device_id=device.id, credential=credential)


@router.get(
    "/devices/{device_id}/schedule",
    response_model=DeviceScheduleOut,
    responses={304: {"description": "Not modified: the If-None-Match tag is current"}},
)
async def get_device_schedule(request: Request, access: DeviceOrOperator, session: SessionDep, now: NowDep) -> Response:
    """The device's active and upcoming intervals, with an ETag; If-None-Match answers 304 when current."""
    etag = schedule_service.view_etag(access.device.id, access.device.schedule_version)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in _etags(request.headers.get("if-none-match", "")):
        await session.commit()  # ends the read: the connection goes back to the pool before the answer is sent
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    view = await schedule_service.device_view(session=session, device=access.device, now=now)
    await session.commit()
    return Response(view.model_dump_json(), media_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    tags = {t.strip() for t in header.split(",") if t.strip()}
    return tags | {t[2:] for t in tags if t.startswith("W/")} | {f"W/{t}" for t in tags if not t.startswith("W/")}


@router.post("/devices/{device_id}/acks", response_model=AckResult, responses=QUEUED_RESPONSE)
async def post_acks(
    batch: AckBatchIn,
    access: DeviceItself,
    session: SessionDep,
    now: NowDep,
    queue: DeviceQueueDep,
    bus: LiveBusDep,
) -> AckResult | JSONResponse:
    """Execution records from the device itself; a replayed ack_id is accepted and not counted twice.

    With RabbitMQ configured the valid batch is queued (202) and a worker stores it.
    """
    if queue is not None:
        await queue.put(access.device.id, Channel.ACKS, encode("acks", [a.model_dump(mode="json") for a in batch.acks]))
        return JSONResponse(Queued(queued=len(batch.acks)).model_dump(), status_code=status.HTTP_202_ACCEPTED)
    result = await ack_service.record(
        session=session, device_id=access.device.id, acks=batch.acks, actor=access.actor, now=now
    )
    await session.commit()
    refused = {r.index for r in result.rejected}
    stored = [a.model_dump(mode="json") for i, a in enumerate(batch.acks) if i not in refused]
    if stored:
        await publish_events(bus, [live_events.ack_event(access.device.id, stored)])
    return result


@router.get("/devices/{device_id}/acks", response_model=ExecutionPage)
async def list_acks(
    access: DeviceOrOperator, session: SessionDep, cursor: Cursor = None, limit: Limit = 100
) -> ExecutionPage:
    """The device's execution records, most recently received first."""
    before = None
    if cursor:
        received_at, _, ack_id = str(decode_cursor(cursor, str)).partition("|")
        if not ack_id:
            raise InvalidCursor("the cursor is not one this server handed out")
        before = (received_at, ack_id)
    try:
        rows = await ack_service.list_for_device(
            session=session, device_id=access.device.id, limit=limit, before=before
        )
    except ValueError:
        raise InvalidCursor("the cursor is not one this server handed out") from None
    items = [ExecutionOut.model_validate(r) for r in rows]
    next_cursor = encode_cursor(f"{rows[-1].received_at.isoformat()}|{rows[-1].ack_id}") if len(rows) == limit else None
    return ExecutionPage(items=items, next_cursor=next_cursor)


@router.post("/devices/{device_id}/heartbeat", status_code=status.HTTP_204_NO_CONTENT)
async def post_heartbeat(
    heartbeat: HeartbeatIn, access: DeviceItself, session: SessionDep, now: NowDep, bus: LiveBusDep
) -> Response:
    """The agent's report on itself; only the newest (by `at`) is kept. Its schedule version confirms delivery."""
    await distribution.record_heartbeat(session=session, device_id=access.device.id, heartbeat=heartbeat, now=now)
    await session.commit()
    event = live_events.status_event(access.device.id, "online", heartbeat.model_dump(mode="json", exclude_none=True))
    await publish_events(bus, [event])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/devices/{device_id}/schedule-rejections",
    response_model=RejectionRecorded,
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"description": "The device has no schedule with that version"}},
)
async def post_schedule_rejection(
    rejection: ScheduleRejectionIn, access: DeviceItself, session: SessionDep, now: NowDep
) -> RejectionRecorded:
    """The device's validator refused a schedule version; a replay (same version and `at`) is stored once."""
    await report_service.record_rejection(
        session=session, device_id=access.device.id, rejection=rejection, actor=access.actor, now=now
    )
    await session.commit()
    return RejectionRecorded()


@router.get("/devices/{device_id}/schedules", response_model=SchedulePage)
async def device_schedule_history(
    device: PathDevice, _: CurrentOperator, session: SessionDep, now: NowDep, cursor: Cursor = None, limit: Limit = 50
) -> SchedulePage:
    """The device's command history, newest first: delivery state, interval counts, and the device's refusal if any."""
    before = int(decode_cursor(cursor, int)) if cursor else None
    items = await schedule_service.history(
        session=session, device_id=device.id, limit=limit, now=now, before_version=before
    )
    items = await report_service.with_rejections(session=session, items=items)
    return SchedulePage(items=items, next_cursor=encode_cursor(items[-1].version) if len(items) == limit else None)


class MalformedBody(DomainError):
    """The body is not JSON, or not of the expected shape."""

    status = 400
    title = "Malformed request body"


@router.post(
    "/schedules",
    response_model=BatchResult,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/ScheduleIn"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/ScheduleIn"}},
                        ]
                    }
                }
            },
        }
    },
    responses={422: {"description": "Refused; every violation listed with its JSON pointer"}},
)
async def submit_schedules(
    request: Request,
    background: BackgroundTasks,
    actor: CurrentAdmin,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    bus: LiveBusDep,
    partial: Annotated[bool, Query(description="Store the valid schedules of a batch, report the rest")] = False,
) -> BatchResult:
    """Submit one schedule (an object) or a batch (an array). All-or-nothing unless ?partial=true."""
    raw = _parse_json(await request.body())
    batch = isinstance(raw, list)
    raws = raw if isinstance(raw, list) else [raw]
    if not isinstance(raw, (list, dict)):
        raise MalformedBody("the body must be a schedule object or an array of schedule objects")
    if not raws:
        raise ScheduleRejected("the batch is empty", errors=[{"pointer": "", "detail": "at least one schedule"}])
    if len(raws) > settings.schedule_max_batch:
        raise BatchTooLarge(f"{len(raws)} schedules in one request; the limit is {settings.schedule_max_batch}")
    result = await schedule_service.submit(
        session=session,
        raws=raws,
        actor=actor,
        now=now,
        batch=batch,
        partial=partial,
        policy=schedule_service.schedule_policy(settings),
    )
    await session.commit()
    await distribution.announce_stored(
        accepted=result.accepted,
        bus=bus,
        publisher=request.app.state.mqtt,
        session_factory=request.app.state.session_factory,
        background=background,
        now=now,
    )
    return result


def _parse_json(body: bytes) -> object:
    if not body:
        raise MalformedBody("the request has no body; send a schedule object or an array of them")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise MalformedBody("the body nests too deeply") from None


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(
    schedule_id: Annotated[int, Path(ge=1, le=2**63 - 1)], _: CurrentOperator, session: SessionDep
) -> ScheduleOut:
    """A schedule version with each interval's execution status."""
    return await schedule_service.get(session=session, schedule_id=schedule_id)
