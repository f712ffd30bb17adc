"""Market commands given a day at either end of the calendar refuse it in a sentence, never with a traceback."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from gridpilot.cli import full_app
from gridpilot.config import Settings
from tests.market.fleet_setup import add_device, database, seed_market


@pytest.fixture
def seeded_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """NP with prices, a promoted model and one battery; the GRIDPILOT_* variables point `gridpilot` at it."""

    async def seed() -> None:
        async with database(settings) as factory, factory() as session:  # empties PostgreSQL first
            await seed_market(session, settings)
            await add_device(session, "bat-0", soc=50.0)
            await session.commit()

    asyncio.run(seed())
    if settings.database_url:
        monkeypatch.setenv("GRIDPILOT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("GRIDPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRIDPILOT_CONFIG", raising=False)
    monkeypatch.setenv("GRIDPILOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GRIDPILOT_ENVIRONMENT", "test")
    return settings


@pytest.mark.parametrize(("day", "detail"), [("9999-12-31", "after 2999-12-31"), ("0001-01-01", "before 2000-01-01")])
def test_optimize_refuses_a_day_out_of_range(seeded_cli: Settings, day: str, detail: str) -> None:
    result = CliRunner().invoke(full_app(), ["optimize", "fleet", "--market", "NP", "--day", day, "--dry-run"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Day out of range" in result.output and detail in " ".join(result.output.split())
