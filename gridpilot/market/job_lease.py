"""A lease in the database, so that one job (the daily fleet optimization) runs in one server process.

With several server processes (GRIDPILOT_WORKERS, or several hosts) each would otherwise run
the job. The holder renews the lease while it runs; if it dies, another process takes the
lease over once it has expired, and the job's catch-up at start plans anything missed.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.market.models import JobLease


def holder_name() -> str:
    """This process, as a lease names its holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire(
    *, session_factory: async_sessionmaker[AsyncSession], name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take the lease if it is free or expired, or renew it if `holder` has it; True if `holder` now holds it."""
    async with session_factory() as session:
        taken = await session.execute(
            update(JobLease)
            .where(JobLease.name == name, or_(JobLease.holder == holder, JobLease.expires_at <= now))
            .values(holder=holder, expires_at=now + ttl)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            await session.commit()
            return True
        if await session.scalar(select(JobLease.name).where(JobLease.name == name)) is not None:
            return False  # another process holds it
        session.add(JobLease(name=name, holder=holder, expires_at=now + ttl))
        try:
            await session.commit()
        except IntegrityError:  # another process created it a moment ago
            return False
        return True


async def release(*, session_factory: async_sessionmaker[AsyncSession], name: str, holder: str) -> None:
    """Give the lease up at once (a clean shutdown), so a standby process need not wait for it to expire."""
    async with session_factory() as session:
        await session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == holder)
            .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
        )
        await session.commit()
