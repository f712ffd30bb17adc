"""`gridpilot migrate`: bring the database schema up to date (or back)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from gridpilot import migrate as migrations
from gridpilot.config import load_settings


def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to the revision instead")] = False,
) -> None:
    """Apply Alembic migrations to the configured database (SQLite by default, or GRIDPILOT_DATABASE_URL)."""
    settings = load_settings()
    if down:
        migrations.downgrade(settings, revision)
    else:
        migrations.upgrade(settings, revision)
    Console().print(f"database at revision [bold]{revision}[/bold] ({settings.sqlalchemy_url.split('@')[-1]})")
