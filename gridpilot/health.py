"""Liveness, readiness (the database answers) and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gridpilot import observability
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.fleet import service as device_service
from gridpilot.market import monitoring as market_monitoring
from gridpilot.problem import problem_response

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/health/ready", responses={503: {"description": "The database does not answer"}})
async def ready(session: SessionDep) -> Response:
    """The process can serve: the database answers."""
    try:
        await session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        observability.DATABASE_ERRORS.labels("readiness").inc()
        return problem_response(503, "Not ready", f"database unavailable: {type(exc).__name__}")
    return Response('{"status":"ok","database":"ok"}', media_type="application/json")


@router.get("/metrics", response_class=Response)
async def metrics(session: SessionDep, settings: SettingsDep, now: NowDep) -> Response:
    """Prometheus metrics; device counts per status and forecast errors per market are taken at scrape time."""
    # Without the database the scrape still answers (the counters, and gridpilot_database_errors_total to
    # alert on), with the device and forecast gauges as last read.
    try:
        counts = await device_service.count_by_status(
            session=session, now=now, liveness=device_service.liveness(settings)
        )
        for status, count in counts.items():
            observability.DEVICES.labels(status.value).set(count)
        await market_monitoring.refresh_metrics(session=session, now=now)
    except (DBAPIError, OSError) as exc:
        observability.DATABASE_ERRORS.labels("metrics").inc()
        log.warning("metrics: the database is unavailable (%s); serving the other metrics", type(exc).__name__)
    return Response(generate_latest(observability.REGISTRY), media_type=CONTENT_TYPE_LATEST)
