"""Exchange an API key for a JWT; tell an operator who they are."""

from __future__ import annotations

from fastapi import APIRouter

from gridpilot.auth import service as auth_service
from gridpilot.auth.dependencies import BearerDep, CurrentOperator, bearer_token
from gridpilot.auth.exceptions import NotAuthenticated
from gridpilot.auth.models import Operator
from gridpilot.auth.schemas import OperatorOut, TokenOut
from gridpilot.auth.tokens import API_KEY_PREFIX, issue_jwt
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut)
async def issue_token(credentials: BearerDep, session: SessionDep, settings: SettingsDep, now: NowDep) -> TokenOut:
    """Trade an API key (as the bearer token) for a short-lived JWT."""
    token = bearer_token(credentials)
    actor = (
        await auth_service.authenticate_api_key(session=session, token=token)
        if token.startswith(API_KEY_PREFIX)
        else None
    )
    if actor is None or actor.role is None:
        raise NotAuthenticated("send a valid operator API key as the bearer token")
    access = issue_jwt(
        secret=settings.secret_key.get_secret_value(),
        operator_id=int(actor.id),
        role=actor.role.value,
        now=now,
        ttl_s=settings.jwt_ttl_s,
    )
    return TokenOut(access_token=access, expires_in=settings.jwt_ttl_s)


@router.get("/me", response_model=OperatorOut)
async def who_am_i(actor: CurrentOperator, session: SessionDep) -> OperatorOut:
    """The calling operator."""
    operator = await session.get(Operator, int(actor.id))
    assert operator is not None  # authenticated a moment ago
    return OperatorOut(id=operator.id, name=operator.name, role=actor.role, created_at=operator.created_at)
