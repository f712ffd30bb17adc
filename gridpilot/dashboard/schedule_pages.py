"""Submitting schedules from the browser: upload or paste JSON or CSV, errors by row, a preview.

The preview stores nothing: it parses, asks the fleet which schedules it would refuse and why
(`fleet.schedules.check`, the API's own checks), and shows every problem on its row. The submit
sends the same upload again through the API's path (`fleet.schedules.submit`, all or nothing,
the operator as the actor, then the push to the devices), so what was previewed is checked again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from gridpilot.auth.schemas import Role
from gridpilot.dashboard import schedule_upload
from gridpilot.dashboard.schedule_upload import MAX_UPLOAD_BYTES, Upload
from gridpilot.dashboard.session import Admin, Viewer
from gridpilot.dashboard.templating import templates
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.fleet import distribution
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet.exceptions import ScheduleConflict, ScheduleRejected
from gridpilot.live.dependencies import LiveBusDep

router = APIRouter()
SHOWN_ROWS = 300  # a table longer than this shows the rows with problems first, then the first others
SOURCE = "dashboard"


@router.get("/schedules", response_class=HTMLResponse)
async def schedules_page(request: Request, viewer: Viewer) -> Response:
    """The upload form."""
    return templates.TemplateResponse(request, "schedules.html", {"viewer": viewer, "preview": None})


@router.post("/schedules/preview", response_class=HTMLResponse)
async def preview(
    request: Request, viewer: Viewer, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """Parse and check the upload; show every row, its problems and the chart. Nothing is stored."""
    upload, text = await _read(request, max_schedules=settings.schedule_max_batch)
    if upload.raws and not upload.problems:
        refused = await schedule_service.check(
            session=session, raws=upload.raws, now=now, policy=schedule_service.schedule_policy(settings)
        )
        upload.add_violations(e for r in refused for e in r.errors)
    await session.rollback()
    context = _preview_context(upload, viewer.role is Role.ADMIN)
    return _render(request, viewer, context, text, status_code=200 if upload.ok else 422)


@router.post("/schedules/submit", response_class=HTMLResponse)
async def submit(
    request: Request,
    background: BackgroundTasks,
    admin: Admin,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    bus: LiveBusDep,
) -> Response:
    """Store every schedule of the upload or none, as the API does, with this operator as the actor."""
    upload, text = await _read(request, max_schedules=settings.schedule_max_batch)
    if not upload.raws or not upload.ok:
        return _render(request, admin, _preview_context(upload, True), text, status_code=422)
    try:
        result = await schedule_service.submit(
            session=session,
            raws=upload.raws,
            actor=admin,
            now=now,
            batch=True,
            source=SOURCE,
            policy=schedule_service.schedule_policy(settings),
        )
    except ScheduleRejected as exc:
        await session.rollback()
        upload.add_violations(exc.errors)
        upload.problems.insert(0, "Nothing was stored: the fleet refused the upload (see below).")
        return _render(request, admin, _preview_context(upload, True), text, status_code=422)
    except ScheduleConflict as exc:
        await session.rollback()
        upload.problems.append(f"Nothing was stored: {exc.detail}.")
        return _render(request, admin, _preview_context(upload, True), text, status_code=409)
    await session.commit()
    await distribution.announce_stored(
        accepted=result.accepted,
        bus=bus,
        publisher=request.app.state.mqtt,
        session_factory=request.app.state.session_factory,
        background=background,
        now=now,
    )
    context = {"result": result, "intervals": sum(a.intervals for a in result.accepted)}
    if request.headers.get("HX-Request"):
        return templates.TemplateResponse(request, "partials/schedule_result.html", context)
    return templates.TemplateResponse(request, "schedules.html", {"viewer": admin, "preview": None, **context})


async def _read(request: Request, *, max_schedules: int) -> tuple[Upload, str]:
    """The upload (a chosen file wins over pasted text) parsed, and the pasted text to show in the form again."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 64 * 1024:
        return Upload("", problems=[schedule_upload.too_large(int(length))]), ""
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=MAX_UPLOAD_BYTES + 1)
    except HTTPException as exc:
        return Upload("", problems=[f"The form could not be read: {exc.detail}"]), ""
    try:
        return await _parse_form(form, max_schedules=max_schedules)
    finally:
        await form.close()


async def _parse_form(form: FormData, *, max_schedules: int) -> tuple[Upload, str]:
    chosen = form.get("format")
    format = chosen if isinstance(chosen, str) and chosen in schedule_upload.FORMATS else "auto"
    pasted = form.get("text")
    text = pasted if isinstance(pasted, str) else ""
    file = form.get("file")
    if isinstance(file, UploadFile) and file.filename:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if data:
            return schedule_upload.parse(data, format=format, max_schedules=max_schedules), text
    return schedule_upload.parse(text.encode(), format=format, max_schedules=max_schedules), text


def _preview_context(upload: Upload, can_submit: bool) -> dict[str, Any]:
    """What the preview partial shows: the rows (all, or those with problems first), the chart, the verdict."""
    rows = upload.rows
    if len(rows) > SHOWN_ROWS:
        bad = [i for i, row in enumerate(rows) if row.problems][:SHOWN_ROWS]
        others = [i for i, row in enumerate(rows) if not row.problems][: SHOWN_ROWS - len(bad)]
        rows = [upload.rows[i] for i in sorted(bad + others)]
    series, devices = schedule_upload.chart_series(upload.raws)
    return {
        "upload": upload,
        "rows": rows,
        "columns": schedule_upload.CSV_COLUMNS,
        "chart": {"series": series},
        "chart_devices": devices,
        "can_submit": can_submit,
    }


def _render(request: Request, viewer: Any, context: dict[str, Any], text: str, *, status_code: int) -> Response:
    """The preview as an htmx fragment, or the whole page (with the pasted text kept) for a plain form post."""
    if request.headers.get("HX-Request"):
        return templates.TemplateResponse(request, "partials/schedule_preview.html", context, status_code=status_code)
    page = {"viewer": viewer, "preview": True, "text": text, **context}
    return templates.TemplateResponse(request, "schedules.html", page, status_code=status_code)
