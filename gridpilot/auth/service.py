"""Operators and API keys: create, list, authenticate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.exceptions import OperatorExists, OperatorNotFound
from gridpilot.auth.models import ApiKey, Operator
from gridpilot.auth.passwords import hash_password, verify_password
from gridpilot.auth.schemas import Actor, Role
from gridpilot.auth.tokens import API_KEY_PREFIX, hash_token, new_token


async def create_operator(*, session: AsyncSession, name: str, role: Role) -> Operator:
    """A new operator; names are unique."""
    if await session.scalar(select(Operator.id).where(Operator.name == name)) is not None:
        raise OperatorExists(f"an operator named {name!r} already exists")
    operator = Operator(name=name, role=role.value)
    session.add(operator)
    await session.flush()
    return operator


async def get_operator_by_name(*, session: AsyncSession, name: str) -> Operator:
    """The operator of that name, or OperatorNotFound."""
    operator = await session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        raise OperatorNotFound(f"no operator named {name!r}")
    return operator


async def list_operators(*, session: AsyncSession) -> list[Operator]:
    """All operators, oldest first."""
    return list(await session.scalars(select(Operator).order_by(Operator.id)))


async def create_api_key(*, session: AsyncSession, operator: Operator, name: str) -> tuple[ApiKey, str]:
    """A new API key for the operator; the plain token is returned once and never stored."""
    token = new_token(API_KEY_PREFIX)
    key = ApiKey(operator_id=operator.id, name=name, prefix=token[:8], token_hash=hash_token(token))
    session.add(key)
    await session.flush()
    return key, token


async def authenticate_api_key(*, session: AsyncSession, token: str) -> Actor | None:
    """The operator behind a valid, unrevoked API key of an enabled operator, else None."""
    row = (
        await session.execute(
            select(Operator)
            .join(ApiKey, ApiKey.operator_id == Operator.id)
            .where(ApiKey.token_hash == hash_token(token), ApiKey.revoked_at.is_(None), Operator.disabled_at.is_(None))
        )
    ).scalar_one_or_none()
    return None if row is None else operator_actor(row)


async def authenticate_operator_id(*, session: AsyncSession, operator_id: int) -> Actor | None:
    """The enabled operator of that id (a JWT's subject), else None."""
    operator = await session.get(Operator, operator_id)
    if operator is None or operator.disabled_at is not None:
        return None
    return operator_actor(operator)


async def set_password(*, session: AsyncSession, operator: Operator, password: str) -> None:
    """Give the operator a dashboard password (ValueError if it is too short)."""
    operator.password_hash = hash_password(password)
    await session.flush()


async def authenticate_password(*, session: AsyncSession, name: str, password: str) -> Actor | None:
    """The enabled operator with that name and password, else None (the same time either way)."""
    operator = await session.scalar(select(Operator).where(Operator.name == name))
    stored = operator.password_hash if operator is not None else None
    if not verify_password(password, stored) or operator is None or operator.disabled_at is not None:
        return None
    return operator_actor(operator)


async def revoke_api_keys(*, session: AsyncSession, operator: Operator, now: datetime) -> int:
    """Revoke every key of an operator; returns how many were revoked."""
    keys = list(
        await session.scalars(select(ApiKey).where(ApiKey.operator_id == operator.id, ApiKey.revoked_at.is_(None)))
    )
    for key in keys:
        key.revoked_at = now
    await session.flush()
    return len(keys)


def operator_actor(operator: Operator) -> Actor:
    """The Actor for an operator row."""
    return Actor(kind="operator", id=str(operator.id), name=operator.name, role=Role(operator.role))
