"""Getting schedules to devices: push each device's new view after a batch is stored, and record delivery.

The channel is anything with `publish_views` (MQTT in production); with none configured,
devices get their schedules by polling, which stays the fallback in every case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.fleet import reports as report_service
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet.schemas import DeviceScheduleOut, HeartbeatIn

log = logging.getLogger("gridpilot.fleet")


class ViewPublisher(Protocol):
    """A push channel to devices."""

    async def publish_views(self, views: Iterable[DeviceScheduleOut]) -> list[DeviceScheduleOut]:
        """Send each view to its device; returns those the channel confirmed."""


async def push_views(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    publisher: ViewPublisher,
    device_ids: list[str],
    now: datetime,
) -> int:
    """Build the devices' current views, publish them and record which were sent; runs after the storing request."""
    async with session_factory() as session:
        views = await schedule_service.device_views(session=session, device_ids=device_ids, now=now)
        await session.rollback()  # end the read before the network wait
        published = await publisher.publish_views(views)
        await schedule_service.mark_sent(session=session, sent=[(v.device_id, v.version) for v in published], now=now)
        await session.commit()
    if len(published) < len(views):
        log.warning("pushed %s of %s views; the rest follow when the broker is back", len(published), len(views))
    return len(published)


async def record_heartbeat(*, session: AsyncSession, device_id: str, heartbeat: HeartbeatIn, now: datetime) -> None:
    """Keep the agent's newest heartbeat; the schedule version it reports in force confirms that version's delivery."""
    await report_service.record_heartbeat(session=session, device_id=device_id, heartbeat=heartbeat, now=now)
    if heartbeat.schedule_version:
        await schedule_service.mark_delivered(
            session=session, device_id=device_id, version=heartbeat.schedule_version, now=now
        )
