"""A throwaway PostgreSQL database for a benchmark run, dropped on exit whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def pg_admin(statement: str) -> None:
    """Run one statement on the server's admin database."""
    import asyncpg

    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """The name of a new empty database `prefix_<random>`, dropped (connections forced out) on exit."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
