"""Getting schedules to devices: push each device's new view after a batch is stored, and record delivery.

The channel is anything with `publish_views` (MQTT in production); with none configured,
devices get their schedules by polling, which stays the fallback in every case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.background import BackgroundTasks

from gridpilot.fleet import reports as report_service
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet.schemas import AcceptedSchedule, DeviceScheduleOut, HeartbeatIn
from gridpilot.live import events as live_events
from gridpilot.live.bus import LiveBus
from gridpilot.live.publish import publish_events

log = logging.getLogger("gridpilot.fleet")
UNSENT_LOOKBACK = timedelta(hours=24)  # as far back as a device's view reaches (unacked ended intervals)


class ViewPublisher(Protocol):
    """A push channel to devices."""

    async def publish_views(self, views: Iterable[DeviceScheduleOut]) -> list[DeviceScheduleOut]:
        """Send each view to its device; returns those the channel confirmed."""


async def announce_stored(
    *,
    accepted: Sequence[AcceptedSchedule],
    bus: LiveBus | None,
    publisher: ViewPublisher | None,
    session_factory: async_sessionmaker[AsyncSession],
    background: BackgroundTasks,
    now: datetime,
) -> None:
    """After a submission's commit: a live event per stored version, and the push to the devices once answered."""
    await publish_events(bus, [live_events.schedule_event(a.device_id, a.version, "queued") for a in accepted])
    if publisher is not None and accepted:
        background.add_task(
            push_views,
            session_factory=session_factory,
            publisher=publisher,
            device_ids=[a.device_id for a in accepted],
            now=now,
        )


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
        confirmed_at = datetime.now(UTC)  # sent_at is when the broker confirmed, not when the push began
        sent = [(v.device_id, v.version) for v in published]
        await schedule_service.mark_sent(session=session, sent=sent, now=confirmed_at)
        await session.commit()
    if len(published) < len(views):
        log.warning("pushed %s of %s views; the rest follow when the broker is back", len(published), len(views))
    return len(published)


async def push_unsent(
    *, session_factory: async_sessionmaker[AsyncSession], publisher: ViewPublisher, now: datetime
) -> int:
    """Publish the views of every device whose newest schedule the broker has not confirmed (of the last day).

    The database, not the memory of one process, knows what is unsent: a push cut short by a
    broker outage or by a restart of this server is completed at the next connection.
    """
    async with session_factory() as session:
        device_ids = await schedule_service.unsent_device_ids(session=session, since=now - UNSENT_LOOKBACK)
    if not device_ids:
        return 0
    log.info("publishing the schedules of %s devices that the broker has not confirmed", len(device_ids))
    return await push_views(session_factory=session_factory, publisher=publisher, device_ids=device_ids, now=now)


async def record_heartbeat(*, session: AsyncSession, device_id: str, heartbeat: HeartbeatIn, now: datetime) -> None:
    """Keep the agent's newest heartbeat; the schedule version it reports in force confirms that version's delivery."""
    await record_heartbeats(session=session, heartbeats={device_id: heartbeat}, now=now)


async def record_heartbeats(*, session: AsyncSession, heartbeats: Mapping[str, HeartbeatIn], now: datetime) -> None:
    """`record_heartbeat` for many devices at once (a worker's batch)."""
    await report_service.record_heartbeats(session=session, heartbeats=heartbeats, now=now)
    versions = {device_id: h.schedule_version for device_id, h in heartbeats.items() if h.schedule_version}
    await schedule_service.mark_delivered_many(session=session, versions=versions, now=now)
