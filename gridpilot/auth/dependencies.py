"""Who is calling: operators by API key or JWT, with role checks."""

from __future__ import annotations

from typing import Annotated

import jwt
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gridpilot.auth import service as auth_service
from gridpilot.auth.exceptions import Forbidden, NotAuthenticated
from gridpilot.auth.schemas import Actor, Role
from gridpilot.auth.tokens import API_KEY_PREFIX, decode_jwt
from gridpilot.dependencies import SessionDep, SettingsDep

bearer_scheme = HTTPBearer(auto_error=False, description="An operator API key, a JWT, or a device credential")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token of the request, or NotAuthenticated."""
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("send 'Authorization: Bearer <API key, JWT or device credential>'")
    return credentials.credentials


async def operator_from_token(*, token: str, session: SessionDep, settings: SettingsDep) -> Actor:
    """The operator behind an API key or a JWT."""
    if token.startswith(API_KEY_PREFIX):
        actor = await auth_service.authenticate_api_key(session=session, token=token)
        if actor is None:
            raise NotAuthenticated("unknown or revoked API key")
        return actor
    try:
        claims = decode_jwt(token, secret=settings.secret_key.get_secret_value())
        operator_id = int(claims["sub"])
    except (jwt.InvalidTokenError, ValueError):
        raise NotAuthenticated("the bearer token is not a valid gridpilot credential") from None
    actor = await auth_service.authenticate_operator_id(session=session, operator_id=operator_id)
    if actor is None:
        raise NotAuthenticated("the token's operator no longer exists or is disabled")
    return actor


async def current_operator(credentials: BearerDep, session: SessionDep, settings: SettingsDep) -> Actor:
    """Any authenticated operator (viewer or admin)."""
    return await operator_from_token(token=bearer_token(credentials), session=session, settings=settings)


CurrentOperator = Annotated[Actor, Depends(current_operator)]


async def current_admin(actor: CurrentOperator) -> Actor:
    """An authenticated admin; viewers get 403."""
    if actor.role is not Role.ADMIN:
        raise Forbidden(f"operator {actor.name!r} is a {actor.role}; this needs an admin")
    return actor


CurrentAdmin = Annotated[Actor, Depends(current_admin)]
