"""The live events a device's messages produce, as small JSON-ready dicts.

Derived from the messages that were stored (after their commit), whichever path they came
by: MQTT through a worker, HTTP to the server, in-process or through RabbitMQ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from gridpilot.protocol.mqtt import Channel, EnvelopeError, decode

LiveEvent = dict[str, Any]

_TELEMETRY_FIELDS = ("at", "soc_pct", "power_kw", "temperature_c", "state")
_ACK_FIELDS = ("ack_id", "interval_id", "status", "started_at", "ended_at", "energy_kwh", "soc_pct", "message")


def events_from_payloads(items: Iterable[tuple[str, Channel, bytes]]) -> list[LiveEvent]:
    """One event per stored message: an ack batch, the newest telemetry point, a heartbeat or a status."""
    events: list[LiveEvent] = []
    for device_id, channel, payload in items:
        try:
            envelope = decode(payload)
        except EnvelopeError:
            continue
        event = _event(device_id, channel, envelope.type, envelope.data)
        if event is not None:
            events.append(event)
    return events


def ack_event(device_id: str, acks: Sequence[dict[str, Any]]) -> LiveEvent:
    """Acknowledgements that were just stored (only the fields the pages show)."""
    return {"type": "acks", "device_id": device_id, "acks": [_pick(ack, _ACK_FIELDS) for ack in acks]}


def telemetry_event(device_id: str, points: Sequence[dict[str, Any]]) -> LiveEvent:
    """The newest of the telemetry points that were just stored."""
    newest = max(points, key=lambda point: str(point.get("at", "")))
    return {
        "type": "telemetry",
        "device_id": device_id,
        "count": len(points),
        "point": _pick(newest, _TELEMETRY_FIELDS),
    }


def status_event(device_id: str, state: str) -> LiveEvent:
    """A device said it is online, or the broker published its last will (offline)."""
    return {"type": "status", "device_id": device_id, "state": state}


def encode_events(events: Sequence[LiveEvent]) -> bytes:
    """The wire form of a batch of events (JSON, as sent to Redis and to browsers)."""
    return json.dumps(events, separators=(",", ":"), default=str).encode()


def _event(device_id: str, channel: Channel, kind: str, data: Any) -> LiveEvent | None:
    if channel is Channel.ACKS and kind == "acks" and isinstance(data, list) and data:
        return ack_event(device_id, [ack for ack in data if isinstance(ack, dict)])
    if channel is Channel.TELEMETRY and kind == "telemetry" and isinstance(data, list) and data:
        return telemetry_event(device_id, [point for point in data if isinstance(point, dict)])
    if channel is Channel.STATUS and kind == "heartbeat":
        return status_event(device_id, "online")
    if channel is Channel.STATUS and kind == "status" and isinstance(data, dict):
        return status_event(device_id, str(data.get("state")))
    return None


def _pick(record: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {field: record[field] for field in fields if field in record}
