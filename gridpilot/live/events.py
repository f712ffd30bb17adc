"""The live events a device's messages produce, as small JSON-ready dicts.

Derived from the messages that were stored (after their commit), whichever path they came
by: MQTT through a worker, HTTP to the server, in-process or through RabbitMQ. A batch's
events are merged per device and kind (all its acks in one event, its newest telemetry
point, its latest status), so a worker's 500-message batch costs the pages a few events
per device, not 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from gridpilot.protocol.mqtt import Channel, EnvelopeError, decode

LiveEvent = dict[str, Any]

_TELEMETRY_FIELDS = ("at", "soc_pct", "power_kw", "temperature_c", "state")
_ACK_FIELDS = ("ack_id", "interval_id", "status", "started_at", "ended_at", "energy_kwh", "soc_pct", "message")
_OLDEST = datetime.min.replace(tzinfo=UTC)
_HEARTBEAT_FIELDS = ("schedule_version", "driver_state", "fault", "outbox_depth")


def events_from_payloads(items: Iterable[tuple[str, Channel, bytes]]) -> list[LiveEvent]:
    """The events of stored messages (device, channel, MQTT envelope), merged per device and kind."""
    merged: dict[tuple[str, str], LiveEvent] = {}
    for device_id, channel, payload in items:
        try:
            envelope = decode(payload)
        except EnvelopeError:
            continue
        event = _event(device_id, channel, envelope.type, envelope.data)
        if event is None:
            continue
        key = (event["type"], device_id)
        previous = merged.get(key)
        merged[key] = event if previous is None else _merge(previous, event)
    return list(merged.values())


def ack_event(device_id: str, acks: Sequence[dict[str, Any]]) -> LiveEvent:
    """Acknowledgements that were just stored (only the fields the pages show)."""
    return {"type": "acks", "device_id": device_id, "acks": [_pick(ack, _ACK_FIELDS) for ack in acks]}


def telemetry_event(device_id: str, points: Sequence[dict[str, Any]]) -> LiveEvent:
    """The newest of the telemetry points that were just stored (points must not be empty)."""
    newest = max(points, key=_instant)
    return {
        "type": "telemetry",
        "device_id": device_id,
        "count": len(points),
        "point": _pick(newest, _TELEMETRY_FIELDS),
    }


def status_event(device_id: str, state: str, heartbeat: dict[str, Any] | None = None) -> LiveEvent:
    """A device said it is online (a heartbeat: with the schedule version in force), or its last will came."""
    event: LiveEvent = {"type": "status", "device_id": device_id, "state": state}
    if heartbeat is not None:
        event.update(_pick(heartbeat, _HEARTBEAT_FIELDS))
    return event


def schedule_event(device_id: str, version: int, state: str) -> LiveEvent:
    """A schedule version changed delivery state (stored = "queued")."""
    return {"type": "schedule", "device_id": device_id, "version": version, "state": state}


def encode_events(events: Sequence[LiveEvent]) -> bytes:
    """The wire form of a batch of events (JSON, as sent to Redis and to browsers)."""
    return json.dumps(events, separators=(",", ":"), default=str).encode()


def decode_events(raw: bytes | str) -> list[LiveEvent]:
    """A batch as `encode_events` wrote it; anything else on the channel reads as no events."""
    try:
        batch = json.loads(raw)
    except ValueError:
        return []
    return [event for event in batch if isinstance(event, dict)] if isinstance(batch, list) else []


def _event(device_id: str, channel: Channel, kind: str, data: Any) -> LiveEvent | None:
    records = [record for record in data if isinstance(record, dict)] if isinstance(data, list) else []
    if channel is Channel.ACKS and kind == "acks" and records:
        return ack_event(device_id, records)
    if channel is Channel.TELEMETRY and kind == "telemetry" and records:
        return telemetry_event(device_id, records)
    if channel is Channel.STATUS and kind == "heartbeat":
        return status_event(device_id, "online", data if isinstance(data, dict) else None)
    if channel is Channel.STATUS and kind == "status" and isinstance(data, dict):
        return status_event(device_id, str(data.get("state")))
    return None


def _merge(older: LiveEvent, newer: LiveEvent) -> LiveEvent:
    """Two events of one device and kind from one batch, as one (in place: both are this batch's own)."""
    if newer["type"] == "acks":
        older["acks"].extend(newer["acks"])
        return older
    if newer["type"] == "telemetry":
        older["count"] += newer["count"]
        older["point"] = max(older["point"], newer["point"], key=_instant)
        return older
    return newer  # a status: the device's latest word


def _instant(point: dict[str, Any]) -> datetime:
    """When a point was taken (its `at`, in any ISO form a device sends); unreadable reads as the oldest."""
    try:
        at = datetime.fromisoformat(str(point.get("at")))
    except ValueError:
        return _OLDEST
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _pick(record: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {field: record[field] for field in fields if field in record}
