"""Market fixtures: an emptied database for CLI runs, and the environment that points the CLI at it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from gridpilot.config import Settings
from gridpilot.db import Base, create_engine
from gridpilot.models import import_all_models


def _truncate(settings: Settings) -> None:
    async def run() -> None:
        import_all_models()
        engine = create_engine(settings)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's database, emptied, and the GRIDPILOT_* variables that make `gridpilot` commands use it."""
    if settings.database_url:
        _truncate(settings)
        monkeypatch.setenv("GRIDPILOT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("GRIDPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRIDPILOT_CONFIG", raising=False)
    monkeypatch.setenv("GRIDPILOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GRIDPILOT_ENVIRONMENT", "test")
    return settings
