"""The fleet overview page, and the fragments htmx swaps into it (the device table, the alerts)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.dashboard import fleet_series, fleet_views
from gridpilot.dashboard.session import Viewer
from gridpilot.dashboard.templating import templates
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.fleet import service as fleet_service

router = APIRouter()


async def _table(
    request: Request, session: AsyncSession, now: datetime, liveness: fleet_service.Liveness
) -> dict[str, Any]:
    """The device table's template context for the request's query string."""
    params = request.query_params
    query, notes = fleet_series.parse_table_query(
        q=params.get("q"),
        status=params.get("status"),
        site=params.get("site"),
        sort=params.get("sort"),
        order=params.get("order"),
        page=params.get("page"),
    )
    rows, total = await fleet_views.device_table(session=session, now=now, liveness=liveness, query=query)
    page = fleet_series.paging(total=total, page=query.page, per_page=query.per_page)
    if query.page > int(page["page"] or 1):
        notes.append(f"There are only {page['pages']} page(s); showing the last one.")
        query = replace(query, page=int(page["page"] or 1))
    return {"query": query, "rows": rows, "paging": page, "notes": notes, "sorts": fleet_series.SORTS}


@router.get("/fleet", response_class=HTMLResponse)
async def fleet_overview(
    request: Request, viewer: Viewer, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """Devices by status, fleet power and SoC, the device table and current alerts."""
    liveness = fleet_service.liveness(settings)
    summary = await fleet_views.fleet_summary(session=session, now=now, liveness=liveness)
    alerts = await fleet_views.alerts(session=session, now=now, liveness=liveness)
    table = await _table(request, session, now, liveness)
    sites = await fleet_views.sites(session=session)
    context = {"viewer": viewer, "summary": summary, "alerts": alerts, "sites": sites, "now": now, **table}
    return templates.TemplateResponse(request, "fleet.html", context)


@router.get("/fleet/devices", response_class=HTMLResponse)
async def fleet_device_table(
    request: Request, viewer: Viewer, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """One page of the device table, for htmx; the address bar shows the overview with the same state."""
    if not request.headers.get("HX-Request"):
        query = request.url.query
        return RedirectResponse(f"/fleet?{query}" if query else "/fleet", status_code=303)
    table = await _table(request, session, now, fleet_service.liveness(settings))
    response = templates.TemplateResponse(
        request, "partials/fleet_table.html", {"viewer": viewer, "oob": True, **table}
    )
    # Replace, not push: the address stays shareable without a history entry per pause in typing.
    response.headers["HX-Replace-Url"] = table["query"].url()
    return response


@router.get("/fleet/alerts", response_class=HTMLResponse)
async def fleet_alerts(
    request: Request, viewer: Viewer, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """The alerts panel, refreshed by htmx."""
    alerts = await fleet_views.alerts(session=session, now=now, liveness=fleet_service.liveness(settings))
    return templates.TemplateResponse(request, "partials/fleet_alerts.html", {"viewer": viewer, "alerts": alerts})
