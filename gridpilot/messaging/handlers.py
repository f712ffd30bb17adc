"""What the server does with a message a device sent over MQTT: the same services the HTTP API calls.

The device's identity comes from the topic; the broker's ACL lets a device publish only
on its own topics, so the topic is as good as the HTTP credential.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.auth.schemas import Actor
from gridpilot.fleet import acks as ack_service
from gridpilot.fleet import distribution
from gridpilot.fleet import service as device_service
from gridpilot.fleet.schemas import AckBatchIn, AckIn, HeartbeatIn
from gridpilot.problem import DomainError
from gridpilot.protocol.mqtt import Channel, EnvelopeError, decode
from gridpilot.telemetry import service as telemetry_service
from gridpilot.telemetry.schemas import TelemetryBatchIn, TelemetryPointIn

log = logging.getLogger("gridpilot.messaging")
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
_TRANSIENT_ATTEMPTS = 3  # of a whole batch, before the caller splits it up message by message


class MessageRejected(Exception):
    """A message that will never be processed: malformed, of an unknown type, or refused by the domain."""


def is_transient(exc: BaseException) -> bool:
    """A failure of the transaction, not of its messages: the same batch can simply be tried again."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """One message as it travels through a queue: who sent it, on which channel, the raw envelope."""

    device_id: str
    channel: Channel
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Parsed:
    kind: str
    acks: list[AckIn]
    points: list[TelemetryPointIn]
    link_lost: bool = False  # the device's last will (published by the broker, so not contact)
    heartbeat: HeartbeatIn | None = None


def _parse(channel: Channel, payload: bytes) -> _Parsed:
    """Decode and validate without touching the database, so poison is found before any write."""
    try:
        envelope = decode(payload)
    except EnvelopeError as exc:
        raise MessageRejected(str(exc)) from None
    try:
        if channel is Channel.ACKS and envelope.type == "acks":
            return _Parsed("acks", AckBatchIn.model_validate({"acks": envelope.data}).acks, [])
        if channel is Channel.TELEMETRY and envelope.type == "telemetry":
            return _Parsed("telemetry", [], TelemetryBatchIn.model_validate({"points": envelope.data}).points)
        if channel is Channel.STATUS and envelope.type == "heartbeat":
            return _Parsed("heartbeat", [], [], heartbeat=HeartbeatIn.model_validate(envelope.data))
    except ValidationError as exc:
        raise MessageRejected(f"invalid {envelope.type}: {exc.errors(include_url=False)[:5]}") from None
    if channel is Channel.STATUS and envelope.type == "status":
        state = envelope.data.get("state") if isinstance(envelope.data, dict) else None
        if state not in ("online", "offline"):
            raise MessageRejected(f"a status must say 'online' or 'offline', not {state!r}")
        return _Parsed("status", [], [], link_lost=state == "offline")
    raise MessageRejected(f"a {envelope.type!r} message has no meaning on the {channel.value} topic")


async def handle_device_message(
    *, session: AsyncSession, device_id: str, channel: Channel, payload: bytes, now: datetime, contact_every: timedelta
) -> str:
    """Process one message in the caller's transaction; returns what it was. MessageRejected says why not."""
    parsed = _parse(channel, payload)
    try:
        device = await device_service.get_ref(session=session, device_id=device_id)
        if parsed.link_lost:
            await device_service.record_link_lost(session=session, device_id=device_id, now=now)
        else:
            await device_service.record_contact(session=session, device=device, now=now, coalesce=contact_every)
        actor = Actor(kind="device", id=device_id, name=device_id)
        if parsed.acks:
            await ack_service.record(session=session, device_id=device_id, acks=parsed.acks, actor=actor, now=now)
        if parsed.points:
            await telemetry_service.record(session=session, device_id=device_id, points=parsed.points, now=now)
        if parsed.heartbeat is not None:
            heartbeat = parsed.heartbeat
            await distribution.record_heartbeat(session=session, device_id=device_id, heartbeat=heartbeat, now=now)
    except DomainError as exc:
        raise MessageRejected(f"{type(exc).__name__}: {exc}") from None
    return f"{channel.value}/{parsed.kind}"


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """Messages decoded and validated, grouped by device, before any database work (None: not refused yet)."""

    reasons: list[str | None]
    by_device: dict[str, list[tuple[int, _Parsed]]]


def parse_batch(messages: Sequence[DeviceMessage]) -> ParsedBatch:
    """Decode and validate every message: pure CPU, so a worker can do it while the previous batch is written."""
    reasons: list[str | None] = [None] * len(messages)
    by_device: dict[str, list[tuple[int, _Parsed]]] = defaultdict(list)
    for index, message in enumerate(messages):
        try:
            by_device[message.device_id].append((index, _parse(message.channel, message.payload)))
        except MessageRejected as exc:
            reasons[index] = str(exc)
    return ParsedBatch(reasons, dict(by_device))


async def handle_device_batch(
    *, session: AsyncSession, messages: Sequence[DeviceMessage], now: datetime, contact_every: timedelta
) -> list[str | None]:
    """Process many messages in the caller's transaction, a few statements per kind; per message None or why not.

    A refusal that concerns a whole group (a telemetry point in the future) or a database
    error propagates: the caller rolls back and retries one message per transaction.
    """
    return await write_batch(session=session, batch=parse_batch(messages), now=now, contact_every=contact_every)


async def write_batch(
    *, session: AsyncSession, batch: ParsedBatch, now: datetime, contact_every: timedelta
) -> list[str | None]:
    """handle_device_batch of messages already parsed; leaves `batch` as it was, so a retry can use it again."""
    reasons = list(batch.reasons)
    refs = await device_service.get_refs(session=session, device_ids=sorted(batch.by_device))
    by_device = {d: items for d, items in batch.by_device.items() if d in refs}
    for device_id in batch.by_device.keys() - refs.keys():
        for index, _ in batch.by_device[device_id]:
            reasons[index] = f"DeviceNotFound: no device with id {device_id!r}"
    acks = {d: [ack for _, parsed in items for ack in parsed.acks] for d, items in by_device.items()}
    await ack_service.record_many(session=session, acks_by_device={d: a for d, a in acks.items() if a}, now=now)
    await device_service.record_contacts(  # after the acks, which lock intervals then devices in id order
        session=session,
        devices=[refs[d] for d in sorted(by_device) if any(not parsed.link_lost for _, parsed in by_device[d])],
        now=now,
        coalesce=contact_every,
    )
    points: dict[str, list[TelemetryPointIn]] = {}
    heartbeats: dict[str, HeartbeatIn] = {}
    for device_id, items in by_device.items():
        if items[-1][1].link_lost:  # the newest word on this device is its last will
            await device_service.record_link_lost(session=session, device_id=device_id, now=now)
        if device_points := [point for _, parsed in items for point in parsed.points]:
            points[device_id] = device_points
        if device_heartbeats := [parsed.heartbeat for _, parsed in items if parsed.heartbeat is not None]:
            heartbeats[device_id] = max(device_heartbeats, key=lambda heartbeat: heartbeat.at)
    await telemetry_service.record_many(session=session, points_by_device=points, now=now)
    await distribution.record_heartbeats(session=session, heartbeats=heartbeats, now=now)
    return reasons


async def store_device_batch(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    batch: ParsedBatch,
    now: Callable[[], datetime],
    contact_every: timedelta,
) -> list[str | None]:
    """write_batch in a transaction of its own, committed; per message None or why not.

    A deadlock or serialization failure with a concurrent batch says nothing about these
    messages: the batch is tried again whole (up to _TRANSIENT_ATTEMPTS times) rather than split up.
    """
    attempt = 1
    while True:
        try:
            async with session_factory() as session:
                reasons = await write_batch(session=session, batch=batch, now=now(), contact_every=contact_every)
                await session.commit()
            return reasons
        except DBAPIError as exc:
            if not is_transient(exc) or attempt >= _TRANSIENT_ATTEMPTS:
                raise
            log.info("a batch of %s messages met a concurrent one (%s); trying it again", len(batch.reasons), exc.orig)
            attempt += 1
