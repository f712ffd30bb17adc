"""Structured JSON logs with a request id, and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from asgi_correlation_id import CorrelationIdFilter
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "gridpilot_http_requests_total",
    "HTTP requests by route template, method and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "gridpilot_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
SCHEDULES = Counter(
    "gridpilot_schedules_total", "Schedules submitted, by outcome (accepted, rejected)", ["outcome"], registry=REGISTRY
)
ACKS = Counter(
    "gridpilot_acks_total",
    "Execution acknowledgements, by outcome (new, duplicate, rejected)",
    ["outcome"],
    registry=REGISTRY,
)
MQTT_MESSAGES = Counter(
    "gridpilot_mqtt_messages_total",
    "MQTT messages by direction (out, in, rejected) and channel (schedule, acks, telemetry, status)",
    ["direction", "channel"],
    registry=REGISTRY,
)
QUEUE_MESSAGES = Counter(
    "gridpilot_queue_messages_total",
    "Device messages on the RabbitMQ queue, by direction (in = put, processed = committed, dead = sent to the DLQ)",
    ["direction"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "gridpilot_queue_depth", "Device messages waiting in the queue (ready, not yet delivered)", registry=REGISTRY
)
DLQ_SIZE = Gauge("gridpilot_dlq_size", "Device messages in the dead-letter queue", registry=REGISTRY)
QUEUE_LATENCY = Histogram(
    "gridpilot_queue_processing_seconds",
    "From a device message's first receipt to the commit that stored it",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
SCHEDULE_DELIVERY = Histogram(
    "gridpilot_schedule_delivery_seconds",
    "From a schedule version stored to its device reporting it in force",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
    registry=REGISTRY,
)
DEVICES = Gauge(
    "gridpilot_devices",
    "Devices by status (online, offline, never-seen, decommissioned)",
    ["status"],
    registry=REGISTRY,
)

DATABASE_ERRORS = Counter(
    "gridpilot_database_errors_total",
    "Database failures, by where they were seen: request (a connection lost mid-request), readiness "
    "(/health/ready found the database away), metrics (a scrape could not read it), worker (a batch requeued)",
    ["source"],
    registry=REGISTRY,
)
for _source in ("request", "readiness", "metrics", "worker"):
    DATABASE_ERRORS.labels(_source)  # every series exists from 0, so increase() sees the first failure

FORECAST_MAE = Gauge(
    "gridpilot_forecast_mae",
    "Mean absolute error of served day-ahead price forecasts over the last 7 days, by market (price unit)",
    ["market"],
    registry=REGISTRY,
)
FORECAST_ERROR_PERIODS = Gauge(
    "gridpilot_forecast_error_periods",
    "Delivery periods in gridpilot_forecast_mae: a forecast issued before them and the actual price known",
    ["market"],
    registry=REGISTRY,
)


def configure_logging(*, level: str, json_logs: bool, stream: TextIO | None = None) -> None:
    """Send logs to stderr (or `stream`), as JSON with the request id when asked (the default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(CorrelationIdFilter(uuid_length=32, default_value="-"))
    fmt = "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s"
    handler.setFormatter(
        JsonFormatter(fmt, rename_fields={"asctime": "time", "levelname": "level", "correlation_id": "request_id"})
        if json_logs
        else logging.Formatter("%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


access_log = logging.getLogger("gridpilot.access")


class MetricsMiddleware:
    """Count, time and log every request under its route template (e.g. /api/v1/devices/{device_id})."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
