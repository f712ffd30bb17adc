"""Read the audit log (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gridpilot.audit import service as audit_service
from gridpilot.audit.schemas import AuditEntryOut, AuditPage
from gridpilot.auth.dependencies import CurrentAdmin
from gridpilot.dependencies import SessionDep
from gridpilot.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPage)
async def list_audit_entries(
    _: CurrentAdmin,
    session: SessionDep,
    target_id: Annotated[str | None, Query(max_length=160)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Audit entries, newest first, optionally for one target (e.g. a device id)."""
    before = int(decode_cursor(cursor, int)) if cursor else None
    entries = await audit_service.list_entries(session=session, limit=limit, before_id=before, target_id=target_id)
    return AuditPage(
        items=[AuditEntryOut.model_validate(e) for e in entries],
        next_cursor=encode_cursor(entries[-1].id) if len(entries) == limit else None,
    )
