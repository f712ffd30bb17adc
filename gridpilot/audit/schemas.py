"""Audit log entries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryOut(BaseModel):
    """One audit entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of audit entries, newest first."""

    items: list[AuditEntryOut]
    next_cursor: str | None
