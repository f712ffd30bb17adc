"""A device's page: schedule timeline against executions, telemetry, delivery state, history."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gridpilot.dashboard import device_series, device_views, fleet_series
from gridpilot.dashboard.session import Viewer
from gridpilot.dashboard.templating import templates
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.fleet import service as fleet_service
from gridpilot.fleet.exceptions import DeviceNotFound

router = APIRouter()


@router.get("/devices/{device_id}", response_class=HTMLResponse)
async def device_page(
    request: Request,
    device_id: str,
    viewer: Viewer,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    hours: str | None = None,
) -> Response:
    """The device's header, delivery state, timeline and telemetry over ±`hours`, history and executions."""
    since, until, chosen, notes = device_series.window(now=now, hours=hours)
    try:
        page = await device_views.device_page(
            session=session,
            device_id=device_id,
            now=now,
            liveness=fleet_service.liveness(settings),
            since=since,
            until=until,
        )
    except DeviceNotFound:
        context = {"viewer": viewer, "what": "device", "name": device_id}
        return templates.TemplateResponse(request, "not_found.html", context, status_code=404)
    timeline = device_series.timeline(
        intervals=page.intervals, acks=page.interval_acks, now=now, since=since, until=until
    )
    telemetry = device_series.telemetry(page.telemetry, since=since, until=until)
    context = {
        "viewer": viewer,
        "page": page,
        "device": page.device,
        "now": now,
        "faulted": page.agent is not None and fleet_series.is_faulted(page.agent.driver_state, page.agent.fault),
        "hours": chosen,
        "windows": device_series.WINDOWS_H,
        "notes": notes,
        "charts": {"timeline": timeline, "telemetry": telemetry},
        "category_labels": device_series.CATEGORY_LABELS,
    }
    return templates.TemplateResponse(request, "device.html", context)
