"""Migration 0005 adds the market tables and takes them away again, leaving the fleet's untouched."""

from __future__ import annotations

from sqlalchemy import inspect

from gridpilot import migrate as migrations
from gridpilot.config import Settings
from tests.test_migrations import _inspect

MARKET_TABLES = {"markets", "prices", "forecast_models", "forecast_predictions"}


def test_market_tables_go_down_to_0004_and_come_back(settings: Settings) -> None:
    def tables(connection: object) -> set[str]:
        return set(inspect(connection).get_table_names())

    assert _inspect(settings, tables) >= MARKET_TABLES
    migrations.downgrade(settings, "0004")
    after = _inspect(settings, tables)
    assert not MARKET_TABLES & after and "devices" in after
    migrations.upgrade(settings)
    assert _inspect(settings, tables) >= MARKET_TABLES
