"""Migration 0006 adds the bidding tables and takes them away again, leaving the price tables untouched."""

from __future__ import annotations

from sqlalchemy import inspect

from gridpilot import migrate as migrations
from gridpilot.config import Settings
from tests.test_migrations import _inspect

BIDDING_TABLES = {"bid_submissions", "bids", "bid_outcomes", "market_decisions", "demand_response_events"}


def test_bidding_tables_go_down_to_0005_and_come_back(settings: Settings) -> None:
    def tables(connection: object) -> set[str]:
        return set(inspect(connection).get_table_names())

    assert _inspect(settings, tables) >= BIDDING_TABLES
    migrations.downgrade(settings, "0005")
    after = _inspect(settings, tables)
    assert not BIDDING_TABLES & after and "prices" in after
    migrations.upgrade(settings)
    assert _inspect(settings, tables) >= BIDDING_TABLES
