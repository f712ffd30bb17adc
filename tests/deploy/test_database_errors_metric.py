"""gridpilot_database_errors_total, behind the DatabaseConnectionFailures alert: counted where database failures
are seen, and still scraped while the database is away."""

from __future__ import annotations

import re

import asyncpg
import httpx
import pytest

from gridpilot.app import create_app
from gridpilot.config import Settings
from gridpilot.observability import DATABASE_ERRORS
from tests.conftest import Api

UNREACHABLE = "postgresql+asyncpg://nobody@127.0.0.1:1/none"


def _count(text: str, source: str) -> float:
    match = re.search(rf'^gridpilot_database_errors_total\{{source="{source}"\}} (\S+)$', text, re.MULTILINE)
    assert match, f"no series for source={source}"
    return float(match.group(1))


async def test_every_source_is_exported_from_zero(api: Api) -> None:
    text = (await api.client.get("/metrics")).text
    for source in ("request", "readiness", "metrics", "worker"):
        assert _count(text, source) >= 0


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_without_the_database_readiness_fails_and_metrics_still_answer_with_the_count(
    settings: Settings,
) -> None:
    broken = create_app(settings.model_copy(update={"database_url": UNREACHABLE}))
    before = {s: DATABASE_ERRORS.labels(s)._value.get() for s in ("readiness", "metrics")}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=broken), base_url="http://t") as client:
            assert (await client.get("/health/ready")).status_code == 503
            first = await client.get("/metrics")
            second = await client.get("/metrics")
    finally:
        await broken.state.engine.dispose()
    assert first.status_code == 200 and second.status_code == 200
    assert _count(second.text, "readiness") == before["readiness"] + 1
    assert _count(second.text, "metrics") == before["metrics"] + 2
    assert "gridpilot_http_requests_total" in second.text


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgresql"], indirect=True)
async def test_a_connection_lost_mid_request_is_counted(api: Api, settings: Settings) -> None:
    _, device = await api.register_device("bat-1")
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=device)).status_code == 200
    before = DATABASE_ERRORS.labels("request")._value.get()
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=device)).status_code == 503
    assert _count((await api.client.get("/metrics")).text, "request") == before + 1
