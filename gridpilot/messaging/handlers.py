"""What the server does with a message a device sent over MQTT: the same services the HTTP API calls.

The device's identity comes from the topic; the broker's ACL lets a device publish only
on its own topics, so the topic is as good as the HTTP credential.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.schemas import Actor
from gridpilot.fleet import acks as ack_service
from gridpilot.fleet import service as device_service
from gridpilot.fleet.schemas import AckBatchIn
from gridpilot.problem import DomainError
from gridpilot.protocol.mqtt import Channel, EnvelopeError, decode
from gridpilot.telemetry import service as telemetry_service
from gridpilot.telemetry.schemas import TelemetryBatchIn


class MessageRejected(Exception):
    """A message that will never be processed: malformed, of an unknown type, or refused by the domain."""


async def handle_device_message(
    *, session: AsyncSession, device_id: str, channel: Channel, payload: bytes, now: datetime, contact_every: timedelta
) -> str:
    """Process one message in the caller's transaction; returns what it was. MessageRejected says why not."""
    try:
        envelope = decode(payload)
    except EnvelopeError as exc:
        raise MessageRejected(str(exc)) from None
    try:
        device = await device_service.get_ref(session=session, device_id=device_id)
        await device_service.record_contact(session=session, device=device, now=now, coalesce=contact_every)
        actor = Actor(kind="device", id=device_id, name=device_id)
        if channel is Channel.ACKS and envelope.type == "acks":
            batch = AckBatchIn.model_validate({"acks": envelope.data})
            await ack_service.record(session=session, device_id=device_id, acks=batch.acks, actor=actor, now=now)
        elif channel is Channel.TELEMETRY and envelope.type == "telemetry":
            points = TelemetryBatchIn.model_validate({"points": envelope.data})
            await telemetry_service.record(session=session, device_id=device_id, points=points.points, now=now)
        elif channel is Channel.STATUS and envelope.type == "status":
            pass  # any message is contact, recorded above; the status itself is read by the online tracker
        else:
            raise MessageRejected(f"a {envelope.type!r} message has no meaning on the {channel.value} topic")
    except ValidationError as exc:
        raise MessageRejected(f"invalid {envelope.type}: {exc.errors(include_url=False)[:5]}") from None
    except DomainError as exc:
        raise MessageRejected(f"{type(exc).__name__}: {exc}") from None
    return f"{channel.value}/{envelope.type}"
