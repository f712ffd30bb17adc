"""Record and read audit entries; the caller's transaction commits them with the write."""

from __future__ import annotations

from typing import Any

from asgi_correlation_id import correlation_id
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.audit.models import AuditEntry
from gridpilot.auth.schemas import Actor


def record(
    *,
    session: AsyncSession,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry to the session; never pass secrets in details."""
    session.add(
        AuditEntry(
            actor=actor.label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            request_id=correlation_id.get(),
            details=details or {},
        )
    )


async def list_entries(
    *, session: AsyncSession, limit: int, before_id: int | None = None, target_id: str | None = None
) -> list[AuditEntry]:
    """Entries newest first, optionally for one target, below a cursor id."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    return list(await session.scalars(query))
