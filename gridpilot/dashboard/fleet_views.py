"""What the fleet pages show, read from the fleet's and telemetry's services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.fleet import service as fleet_service


async def fleet_summary(*, session: AsyncSession, now: datetime, liveness: fleet_service.Liveness) -> dict[str, Any]:
    """Devices per status, for the overview's tiles and the live pulse."""
    counts = await fleet_service.count_by_status(session=session, now=now, liveness=liveness)
    return {"status": {status.value: count for status, count in counts.items()}}
