"""Typed dependencies shared by every router: settings, the database session, the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.config import Settings
from gridpilot.db import utcnow


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with (async: a sync dependency costs a thread-pool hop per request)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request; writes commit explicitly in the router, anything left is rolled back."""
    async with request.app.state.session_factory() as session:
        yield session


async def get_now() -> datetime:
    """The request's notion of now (tests override it)."""
    return utcnow()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
NowDep = Annotated[datetime, Depends(get_now)]
