"""The fleet overview page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gridpilot.dashboard import fleet_views
from gridpilot.dashboard.session import Viewer
from gridpilot.dashboard.templating import templates
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.fleet import service as fleet_service

router = APIRouter()


@router.get("/fleet", response_class=HTMLResponse)
async def fleet_overview(
    request: Request, viewer: Viewer, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """Devices by status, fleet power and SoC, the device table and current alerts."""
    summary = await fleet_views.fleet_summary(session=session, now=now, liveness=fleet_service.liveness(settings))
    return templates.TemplateResponse(request, "fleet.html", {"viewer": viewer, "summary": summary})
