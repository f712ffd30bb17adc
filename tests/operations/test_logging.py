"""Logs are JSON lines with the request id; errors are logged, never shown; secrets never logged."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from gridpilot.observability import configure_logging
from tests.conftest import Api


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Everything logged during the test, as configured for production."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level="INFO", json_logs=True, stream=stream)
    yield stream
    root.handlers[:], root.level = saved[0], saved[1]


async def test_unhandled_error_is_a_problem_and_a_json_log_line_with_request_id(
    api: Api, json_logs: io.StringIO
) -> None:
    @api.app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "0123456789abcdef0123456789abcdef"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "kaboom" not in response.text
    assert "Traceback" not in response.text
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    error = next(line for line in lines if line["message"] == "unhandled error")
    assert error["request_id"] == "0123456789abcdef0123456789abcdef"
    assert error["level"] == "ERROR"
    assert "kaboom" in error["exc_info"]


async def test_credentials_never_reach_the_logs(api: Api, json_logs: io.StringIO) -> None:
    device, credential = await api.register_device("bat-1")
    await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
    await api.client.post("/api/v1/auth/token", headers=api.admin)
    logged = json_logs.getvalue()
    requests = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert {r.get("route") for r in requests} >= {"/api/v1/devices", "/api/v1/devices/{device_id}/schedule"}
    secrets = [device["credential"], api.admin["Authorization"].split()[1]]
    assert not any(secret in logged for secret in secrets)
