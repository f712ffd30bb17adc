"""A lost database connection is a 503 the client may retry, and the pool recovers by itself (PostgreSQL)."""

from __future__ import annotations

import asyncpg
import pytest

from gridpilot.config import Settings
from tests.conftest import Api


async def _terminate_server_connections(settings: Settings) -> int:
    """Kill every server-side connection to the test database, as a PostgreSQL restart would."""
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return len(killed)


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgresql"], indirect=True)
async def test_a_dropped_connection_is_a_503_and_the_next_request_succeeds(api: Api, settings: Settings) -> None:
    _, device = await api.register_device("bat-1")
    assert (await api.client.get("/api/v1/devices/bat-1/schedule", headers=device)).status_code == 200
    assert await _terminate_server_connections(settings) >= 1

    lost = await api.client.get("/api/v1/devices/bat-1/schedule", headers=device)
    assert lost.status_code == 503, lost.text
    assert lost.headers["content-type"] == "application/problem+json"
    assert lost.headers["retry-after"] == "1"

    again = await api.client.get("/api/v1/devices/bat-1/schedule", headers=device)
    assert again.status_code == 200, again.text
