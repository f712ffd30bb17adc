"""The app factory: settings in, a FastAPI app with every domain router out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from gridpilot import __version__
from gridpilot.audit.router import router as audit_router
from gridpilot.auth.router import router as auth_router
from gridpilot.config import Settings, load_settings
from gridpilot.dashboard import fleet_views
from gridpilot.dashboard.live import LiveHub
from gridpilot.dashboard.router import install_dashboard_handlers
from gridpilot.dashboard.router import router as dashboard_router
from gridpilot.dashboard.templating import STATIC_DIR, missing_vendor_files
from gridpilot.db import create_engine, create_session_factory
from gridpilot.fleet import distribution
from gridpilot.fleet import service as fleet_service
from gridpilot.fleet.router import router as fleet_router
from gridpilot.fleet.schemas import ScheduleIn
from gridpilot.health import router as health_router
from gridpilot.live.bus import open_bus
from gridpilot.market.daily_job import DailyJob
from gridpilot.market.router import router as market_router
from gridpilot.market.serving import ModelCache
from gridpilot.messaging.mqtt import MqttPublisher
from gridpilot.messaging.queue import open_queue
from gridpilot.messaging.tasks import solver_for
from gridpilot.observability import MetricsMiddleware
from gridpilot.problem import install_problem_handlers
from gridpilot.telemetry.router import router as telemetry_router

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A gridpilot server app; the database engine lives as long as the app."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.mqtt is not None:
            await app.state.mqtt.start()
        if settings.amqp_url:
            app.state.device_queue = await open_queue(settings, app.state.session_factory, app.state.live_bus)
        optimizer = _start_optimizer(app, settings) if settings.optimize_daily_at is not None else None
        live_hub = asyncio.create_task(app.state.live_hub.run(), name="live-hub")
        yield
        live_hub.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await live_hub
        await app.state.live_bus.close()
        if optimizer is not None:
            optimizer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await optimizer
        if app.state.device_queue is not None:
            await app.state.device_queue.close()
        if app.state.mqtt is not None:
            await app.state.mqtt.stop()
        await app.state.engine.dispose()

    app = FastAPI(
        title="gridpilot",
        version=__version__,
        summary="Fleets of smart batteries: devices, schedules, acknowledgements, telemetry.",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.engine = create_engine(settings)
    app.state.session_factory = create_session_factory(app.state.engine)
    app.state.mqtt = None
    app.state.model_cache = ModelCache()  # each market's current forecast model, loaded on first use
    app.state.device_queue = None  # RabbitMQ, opened at start-up when configured: device records are then queued
    if settings.mqtt_url:

        async def republish() -> int:
            return await distribution.push_unsent(
                session_factory=app.state.session_factory, publisher=app.state.mqtt, now=datetime.now(UTC)
            )

        app.state.mqtt = MqttPublisher(settings, republish=republish)
    app.state.live_bus = open_bus(settings)
    app.state.live_hub = LiveHub(app.state.live_bus, summary=lambda: _fleet_summary(app))
    install_problem_handlers(app)
    install_dashboard_handlers(app)
    for router in (health_router, auth_router, fleet_router, telemetry_router, audit_router, market_router):
        app.include_router(router)
    app.include_router(dashboard_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if missing := missing_vendor_files():
        log.warning("dashboard assets missing (%s): run scripts/assets; pages work without charts", ", ".join(missing))
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="gridpilot_session",
        max_age=settings.session_ttl_s,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _fleet_summary(app: FastAPI) -> dict[str, Any]:
    """The fleet summary the live hub sends its clients every second."""
    async with app.state.session_factory() as session:
        return await fleet_views.fleet_summary(
            session=session, now=datetime.now(UTC), liveness=fleet_service.liveness(app.state.settings)
        )


def _start_optimizer(app: FastAPI, settings: Settings) -> asyncio.Task[None]:
    """The daily fleet optimization (and drift checks) as a background task of this server process."""
    job = DailyJob(
        settings=settings,
        session_factory=app.state.session_factory,
        cache=app.state.model_cache,
        solver=solver_for(settings),
        publisher=app.state.mqtt,
    )
    return asyncio.create_task(job.run(), name="fleet-optimizer")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the schedule wire format, which the protocol validates by hand."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        definitions = ScheduleIn.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        components["ScheduleIn"] = definitions
        app.openapi_schema = schema
    return app.openapi_schema
