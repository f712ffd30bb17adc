"""Who is acting: operators and devices, as seen by the other domains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class Role(StrEnum):
    """What an operator may do: viewers read, admins also write."""

    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated principal behind a request, for authorization and the audit log."""

    kind: str  # "operator", "device" or "system"
    id: str
    name: str
    role: Role | None = None

    @property
    def label(self) -> str:
        """How the audit log names this actor, e.g. 'operator:alice'."""
        return f"{self.kind}:{self.name}"


SYSTEM = Actor(kind="system", id="system", name="system", role=Role.ADMIN)


class TokenOut(BaseModel):
    """A JWT access token exchanged for an API key."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class OperatorOut(BaseModel):
    """An operator, as shown to operators."""

    id: int
    name: str
    role: Role
    created_at: datetime
