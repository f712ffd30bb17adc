"""The Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL, and roll back."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from gridpilot import migrate as migrations
from gridpilot.config import Settings
from gridpilot.db import Base, create_engine
from gridpilot.models import import_all_models


def _inspect(settings: Settings, work: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _drift(connection: Connection) -> list[Any]:
    import_all_models()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def test_migrations_match_the_models(settings: Settings) -> None:
    assert _inspect(settings, _drift) == []


def test_constraints_follow_the_naming_convention(settings: Settings) -> None:
    def names(connection: Connection) -> dict[str, Any]:
        inspector = inspect(connection)
        return {
            "pk": inspector.get_pk_constraint("devices")["name"],
            "fk": [fk["name"] for fk in inspector.get_foreign_keys("schedules")],
        }

    found = _inspect(settings, names)
    assert found["fk"] == ["fk_schedules_device_id_devices"]
    if settings.database_url:  # SQLite does not report primary key names
        assert found["pk"] == "pk_devices"


def test_downgrade_to_base_and_upgrade_again(settings: Settings) -> None:
    migrations.downgrade(settings, "base")
    assert "devices" not in _inspect(settings, lambda c: inspect(c).get_table_names())
    migrations.upgrade(settings)
    assert "devices" in _inspect(settings, lambda c: inspect(c).get_table_names())
