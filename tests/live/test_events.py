"""Live events from stored device messages: one per device and kind in a batch, only the fields pages show."""

from __future__ import annotations

from gridpilot.live.events import (
    ack_event,
    decode_events,
    encode_events,
    events_from_payloads,
    schedule_event,
    status_event,
    telemetry_event,
)
from gridpilot.protocol.mqtt import Channel, encode

ACK = {"ack_id": "a-1", "interval_id": 7, "status": "executed", "energy_kwh": 0.5, "secret_extra": "x"}
POINT = {"at": "2026-01-01T00:00:00+00:00", "soc_pct": 50.0, "power_kw": 1.0, "state": "idle", "voltage": 230}
HEARTBEAT = {
    "at": "2026-01-01T00:00:00+00:00",
    "agent_version": "1.0",
    "schedule_version": 3,
    "driver_state": "ok",
    "outbox_depth": 2,
    "outbox_acks": 1,
    "outbox_telemetry": 1,
}


def test_each_kind_of_message_becomes_its_event() -> None:
    events = events_from_payloads(
        [
            ("bat-1", Channel.ACKS, encode("acks", [ACK])),
            ("bat-1", Channel.TELEMETRY, encode("telemetry", [POINT])),
            ("bat-2", Channel.STATUS, encode("heartbeat", HEARTBEAT)),
            ("bat-3", Channel.STATUS, encode("status", {"state": "offline"})),
        ]
    )
    assert events == [
        {"type": "acks", "device_id": "bat-1", "acks": [{k: v for k, v in ACK.items() if k != "secret_extra"}]},
        {
            "type": "telemetry",
            "device_id": "bat-1",
            "count": 1,
            "point": {k: v for k, v in POINT.items() if k != "voltage"},
        },
        {
            "type": "status",
            "device_id": "bat-2",
            "state": "online",
            "schedule_version": 3,
            "driver_state": "ok",
            "outbox_depth": 2,
        },
        {"type": "status", "device_id": "bat-3", "state": "offline"},
    ]


def test_a_batch_is_merged_per_device_and_kind() -> None:
    later = {**POINT, "at": "2026-01-01T00:05:00.5+00:00", "soc_pct": 55.0}  # newest, though "." sorts before "Z"
    events = events_from_payloads(
        [
            ("bat-1", Channel.TELEMETRY, encode("telemetry", [later, POINT])),
            ("bat-1", Channel.ACKS, encode("acks", [ACK])),
            ("bat-1", Channel.TELEMETRY, encode("telemetry", [{**POINT, "at": "2026-01-01T00:05:00Z"}])),
            ("bat-1", Channel.ACKS, encode("acks", [{**ACK, "ack_id": "a-2"}])),
            ("bat-2", Channel.STATUS, encode("status", {"state": "offline"})),
            ("bat-2", Channel.STATUS, encode("heartbeat", HEARTBEAT)),
        ]
    )
    assert [(e["type"], e["device_id"]) for e in events] == [
        ("telemetry", "bat-1"),
        ("acks", "bat-1"),
        ("status", "bat-2"),
    ]
    assert events[0]["count"] == 3 and events[0]["point"]["soc_pct"] == 55.0  # the newest point, wherever it came
    assert [a["ack_id"] for a in events[1]["acks"]] == ["a-1", "a-2"]
    assert events[2]["state"] == "online"  # the device's latest word


def test_what_makes_no_event_is_skipped() -> None:
    events = events_from_payloads(
        [
            ("bat-1", Channel.ACKS, b"{not json"),
            ("bat-1", Channel.ACKS, encode("acks", [])),
            ("bat-1", Channel.TELEMETRY, encode("telemetry", ["not a point"])),
            ("bat-1", Channel.ACKS, encode("telemetry", [POINT])),  # a kind on the wrong topic
            ("bat-1", Channel.STATUS, encode("status", "offline")),
        ]
    )
    assert events == []


def test_the_wire_form_reads_back_and_foreign_messages_read_as_nothing() -> None:
    batch = [
        ack_event("bat-1", [ACK]),
        telemetry_event("bat-1", [POINT]),
        status_event("bat-1", "online"),
        schedule_event("bat-1", 4, "queued"),
    ]
    assert decode_events(encode_events(batch)) == batch
    assert decode_events(b"hello") == []
    assert decode_events(b'{"type": "acks"}') == []
    assert decode_events(b'[1, {"type": "status"}]') == [{"type": "status"}]
