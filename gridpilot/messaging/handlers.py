"""What the server does with a message a device sent over MQTT: the same services the HTTP API calls.

The device's identity comes from the topic; the broker's ACL lets a device publish only
on its own topics, so the topic is as good as the HTTP credential.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.schemas import Actor
from gridpilot.fleet import acks as ack_service
from gridpilot.fleet import distribution
from gridpilot.fleet import service as device_service
from gridpilot.fleet.schemas import AckBatchIn, AckIn, HeartbeatIn
from gridpilot.problem import DomainError
from gridpilot.protocol.mqtt import Channel, EnvelopeError, decode
from gridpilot.telemetry import service as telemetry_service
from gridpilot.telemetry.schemas import TelemetryBatchIn, TelemetryPointIn


class MessageRejected(Exception):
    """A message that will never be processed: malformed, of an unknown type, or refused by the domain."""


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


async def handle_device_batch(
    *, session: AsyncSession, messages: Sequence[DeviceMessage], now: datetime, contact_every: timedelta
) -> list[str | None]:
    """Process many messages in the caller's transaction, a few statements per kind; per message None or why not.

    A refusal that concerns a whole group (a telemetry point in the future) or a database
    error propagates: the caller rolls back and retries one message per transaction.
    """
    reasons: list[str | None] = [None] * len(messages)
    by_device: dict[str, list[tuple[int, _Parsed]]] = defaultdict(list)
    for index, message in enumerate(messages):
        try:
            by_device[message.device_id].append((index, _parse(message.channel, message.payload)))
        except MessageRejected as exc:
            reasons[index] = str(exc)
    refs = await device_service.get_refs(session=session, device_ids=sorted(by_device))
    for device_id in by_device.keys() - refs.keys():
        for index, _ in by_device.pop(device_id):
            reasons[index] = f"DeviceNotFound: no device with id {device_id!r}"
    await device_service.record_contacts(
        session=session,
        devices=[refs[d] for d, items in by_device.items() if any(not parsed.link_lost for _, parsed in items)],
        now=now,
        coalesce=contact_every,
    )
    acks = {d: [ack for _, parsed in items for ack in parsed.acks] for d, items in by_device.items()}
    await ack_service.record_many(session=session, acks_by_device={d: a for d, a in acks.items() if a}, now=now)
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
