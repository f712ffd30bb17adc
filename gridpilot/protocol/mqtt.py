"""The MQTT contract between the cloud and the devices: topic names and the versioned JSON envelope.

Topics, under a prefix (`gridpilot/v1` in production; tests use their own):
- `{prefix}/devices/{device_id}/schedule`  server -> device, QoS 1, retained: the device's current view
- `{prefix}/devices/{device_id}/acks`      device -> server: execution records and schedule receipts
- `{prefix}/devices/{device_id}/telemetry` device -> server: readings
- `{prefix}/devices/{device_id}/status`    device -> server, retained: online/offline; the last will says offline

Every payload is a JSON object {"v": 1, "type": ..., "data": ...}; a reader refuses a `v` it
does not know instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PROTOCOL_VERSION = 1
DEFAULT_PREFIX = "gridpilot/v1"


class Channel(StrEnum):
    """The last level of a device topic."""

    SCHEDULE = "schedule"
    ACKS = "acks"
    TELEMETRY = "telemetry"
    STATUS = "status"


class EnvelopeError(ValueError):
    """A payload that is not a gridpilot envelope of a version this code understands."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded payload: its type (e.g. 'view', 'acks', 'receipt', 'telemetry', 'status') and data."""

    type: str
    data: Any


def device_topic(prefix: str, device_id: str, channel: Channel) -> str:
    """The topic of one device's channel."""
    return f"{prefix}/devices/{device_id}/{channel.value}"


def all_devices_topic(prefix: str, channel: Channel) -> str:
    """The wildcard subscription for one channel of every device."""
    return f"{prefix}/devices/+/{channel.value}"


def parse_device_topic(prefix: str, topic: str) -> tuple[str, Channel] | None:
    """(device_id, channel) of a device topic under prefix, or None for any other topic."""
    head = f"{prefix}/devices/"
    if not topic.startswith(head):
        return None
    device_id, _, channel = topic[len(head) :].partition("/")
    if not device_id or channel not in Channel._value2member_map_:
        return None
    return device_id, Channel(channel)


def encode(type_: str, data: object) -> bytes:
    """A payload in the envelope, compact UTF-8 JSON."""
    return json.dumps({"v": PROTOCOL_VERSION, "type": type_, "data": data}, separators=(",", ":")).encode()


def decode(payload: bytes | bytearray | str) -> Envelope:
    """The envelope of a payload; EnvelopeError says what is wrong with it."""
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise EnvelopeError("the payload must be a JSON object")
    if raw.get("v") != PROTOCOL_VERSION:
        raise EnvelopeError(f"unsupported envelope version {raw.get('v')!r} (this code speaks {PROTOCOL_VERSION})")
    type_ = raw.get("type")
    if not isinstance(type_, str) or not type_:
        raise EnvelopeError("the envelope needs a non-empty string 'type'")
    if "data" not in raw:
        raise EnvelopeError("the envelope needs 'data'")
    return Envelope(type_, raw["data"])
