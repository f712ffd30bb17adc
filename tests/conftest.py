"""Shared fixtures: a migrated database on SQLite and on the real PostgreSQL, and an API client."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from gridpilot import migrate as migrations
from gridpilot.app import create_app
from gridpilot.auth import service as auth_service
from gridpilot.auth.schemas import Role
from gridpilot.config import Settings
from gridpilot.db import Base
from gridpilot.models import import_all_models

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _settings(**overrides: object) -> Settings:
    return Settings(environment="test", log_json=False, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once by Alembic; each test gets a copy."""
    directory = tmp_path_factory.mktemp("template")
    migrations.upgrade(_settings(data_dir=directory))
    return directory / "gridpilot.db"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, migrated by Alembic, dropped at the end."""
    name = f"gridpilot_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    migrations.upgrade(_settings(database_url=url))
    yield url
    asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one test on each database engine: a fresh SQLite copy, or an emptied PostgreSQL."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "gridpilot.db")
        return _settings(data_dir=tmp_path)
    url = request.getfixturevalue("postgres_url")
    return _settings(database_url=url, data_dir=tmp_path)


async def _empty_postgres(app: FastAPI) -> None:
    import_all_models()
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with app.state.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@dataclass
class Api:
    """An API client with an admin's and a viewer's credentials."""

    app: FastAPI
    client: httpx.AsyncClient
    admin: dict[str, str]
    viewer: dict[str, str]

    async def register_device(
        self, device_id: str = "bat-1", **fields: object
    ) -> tuple[dict[str, object], dict[str, str]]:
        """Register a device; returns its JSON and its credential header."""
        body = {
            "id": device_id,
            "name": f"Battery {device_id}",
            "site": "site-a",
            "capacity_kwh": 10.0,
            "max_charge_kw": 5.0,
            "max_discharge_kw": 5.0,
            **fields,
        }
        response = await self.client.post("/api/v1/devices", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        device = response.json()
        return device, {"Authorization": f"Bearer {device['credential']}"}


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app on the test's database, with an admin and a viewer operator."""
    app = create_app(settings)
    if settings.database_url:
        await _empty_postgres(app)
    async with app.state.session_factory() as session:
        admin = await auth_service.create_operator(session=session, name="root", role=Role.ADMIN)
        viewer = await auth_service.create_operator(session=session, name="watcher", role=Role.VIEWER)
        _, admin_key = await auth_service.create_api_key(session=session, operator=admin, name="test")
        _, viewer_key = await auth_service.create_api_key(session=session, operator=viewer, name="test")
        await session.commit()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(app, client, {"Authorization": f"Bearer {admin_key}"}, {"Authorization": f"Bearer {viewer_key}"})
    await app.state.engine.dispose()
