"""The app's live-event bus as a route dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gridpilot.live.bus import LiveBus


async def get_live_bus(request: Request) -> LiveBus | None:
    """The bus the app opened at start-up (None in an app built without one)."""
    bus: LiveBus | None = getattr(request.app.state, "live_bus", None)
    return bus


LiveBusDep = Annotated[LiveBus | None, Depends(get_live_bus)]
