"""Device messages from MQTT go through the same services as HTTP; bad ones are refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gridpilot.fleet import service as device_service
from gridpilot.messaging.handlers import DeviceMessage, MessageRejected, handle_device_batch, handle_device_message
from gridpilot.protocol.mqtt import Channel, encode
from tests.conftest import Api
from tests.fleet.factories import ack, schedule

EARLIER = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


async def handle(api: Api, channel: Channel, payload: bytes, device_id: str = "bat-1") -> str:
    async with api.app.state.session_factory() as session:
        kind = await handle_device_message(
            session=session,
            device_id=device_id,
            channel=channel,
            payload=payload,
            now=datetime.now(UTC),
            contact_every=timedelta(0),
        )
        await session.commit()
    return kind


async def test_acks_and_telemetry_are_stored_once_and_count_as_contact(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1", count=1), headers=api.admin)
    [interval] = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()["intervals"]
    acks = encode("acks", [ack(interval["id"])])
    assert await handle(api, Channel.ACKS, acks) == "acks/acks"
    await handle(api, Channel.ACKS, acks)  # a redelivery
    point = {"at": datetime.now(UTC).isoformat(), "soc_pct": 40.0, "power_kw": -1.5, "state": "discharging"}
    assert await handle(api, Channel.TELEMETRY, encode("telemetry", [point])) == "telemetry/telemetry"
    stored = (await api.client.get("/api/v1/devices/bat-1/acks", headers=api.admin)).json()["items"]
    assert len(stored) == 1
    device = (await api.client.get("/api/v1/devices/bat-1", headers=api.admin)).json()
    assert device["status"] == "online"


@pytest.mark.parametrize(
    ("channel", "payload", "reason"),
    [
        (Channel.ACKS, b"\xff\xfe", "not JSON"),
        (Channel.ACKS, json.dumps({"v": 2, "type": "acks", "data": []}).encode(), "unsupported envelope version 2"),
        (Channel.ACKS, encode("telemetry", []), "no meaning on the acks topic"),
        (Channel.ACKS, encode("acks", [{"ack_id": "x"}]), "invalid acks"),
        (Channel.TELEMETRY, encode("telemetry", [{"at": "2020-01-01T00:00:00", "soc_pct": 1}]), "invalid telemetry"),
    ],
)
async def test_a_bad_message_is_refused_with_the_reason_and_stores_nothing(
    api: Api, channel: Channel, payload: bytes, reason: str
) -> None:
    await api.register_device("bat-1")
    with pytest.raises(MessageRejected, match=reason):
        await handle(api, channel, payload)
    points = (await api.client.get("/api/v1/devices/bat-1/telemetry", headers=api.admin)).json()["items"]
    assert points == []


async def test_the_last_will_marks_the_link_lost_and_an_online_status_ends_it(api: Api) -> None:
    await api.register_device("bat-1")
    await handle(api, Channel.STATUS, encode("status", {"state": "online"}))
    await handle(api, Channel.STATUS, encode("status", {"state": "offline"}))
    async with api.app.state.session_factory() as session:
        ref = await device_service.get_ref(session=session, device_id="bat-1")
    assert ref.link_offline_since is not None
    await handle(api, Channel.STATUS, encode("status", {"state": "online"}))
    async with api.app.state.session_factory() as session:
        ref = await device_service.get_ref(session=session, device_id="bat-1")
    assert ref.link_offline_since is None
    with pytest.raises(MessageRejected, match="'online' or 'offline'"):
        await handle(api, Channel.STATUS, encode("status", {"state": "sleepy"}))


async def test_a_heartbeat_over_mqtt_is_kept_and_confirms_delivery(api: Api) -> None:
    await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1", count=1), headers=api.admin)
    heartbeat = {
        "at": datetime.now(UTC).isoformat(),
        "agent_version": "t",
        "schedule_version": 1,
        "driver_state": "ok",
        "outbox_depth": 3,
        "outbox_acks": 1,
        "outbox_telemetry": 2,
    }
    assert await handle(api, Channel.STATUS, encode("heartbeat", heartbeat)) == "status/heartbeat"
    device = (await api.client.get("/api/v1/devices/bat-1", headers=api.admin)).json()
    assert device["agent"]["outbox_depth"] == 3
    history = (await api.client.get("/api/v1/devices/bat-1/schedules", headers=api.admin)).json()["items"]
    assert history[0]["delivery"]["state"] == "delivered"


async def test_a_message_for_an_unknown_device_is_refused(api: Api) -> None:
    with pytest.raises(MessageRejected, match="DeviceNotFound"):
        await handle(api, Channel.STATUS, encode("status", {"state": "online"}), device_id="ghost")


async def test_a_batch_from_many_devices_is_stored_in_one_go_with_refusals_per_message(api: Api) -> None:
    ids: dict[str, int] = {}
    for device_id in ("bat-1", "bat-2", "bat-3"):
        _, credential = await api.register_device(device_id)
        await api.client.post("/api/v1/schedules", json=schedule(device_id, count=1), headers=api.admin)
        view = (await api.client.get(f"/api/v1/devices/{device_id}/schedule", headers=credential)).json()
        ids[device_id] = view["intervals"][0]["id"]
    first = ack(ids["bat-1"])
    messages = [
        DeviceMessage("bat-1", Channel.ACKS, encode("acks", [first])),
        DeviceMessage("bat-1", Channel.ACKS, encode("acks", [first])),  # a redelivery in the same batch
        DeviceMessage("bat-2", Channel.ACKS, encode("acks", [ack(ids["bat-2"]), ack(ids["bat-3"])])),  # one not its own
        DeviceMessage("bat-3", Channel.ACKS, encode("acks", [ack(ids["bat-3"])])),
        DeviceMessage("ghost", Channel.ACKS, encode("acks", [ack(ids["bat-3"])])),
        DeviceMessage("bat-3", Channel.ACKS, b"{"),
    ]
    async with api.app.state.session_factory() as session:
        reasons = await handle_device_batch(
            session=session, messages=messages, now=datetime.now(UTC), contact_every=timedelta(0)
        )
        await session.commit()
    assert reasons[:4] == [None, None, None, None]
    assert "DeviceNotFound" in (reasons[4] or "") and "not JSON" in (reasons[5] or "")
    stored = {}
    for device_id in ids:
        items = (await api.client.get(f"/api/v1/devices/{device_id}/acks", headers=api.admin)).json()["items"]
        stored[device_id] = [item["interval_id"] for item in items]
    assert stored == {"bat-1": [ids["bat-1"]], "bat-2": [ids["bat-2"]], "bat-3": [ids["bat-3"]]}
    devices = (await api.client.get("/api/v1/devices", headers=api.admin)).json()["items"]
    assert {d["id"]: d["status"] for d in devices} == {"bat-1": "online", "bat-2": "online", "bat-3": "online"}


async def test_a_batch_keeps_each_devices_newest_heartbeat_delivery_telemetry_and_soc(api: Api) -> None:
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    for device_id in ("bat-1", "bat-2"):
        _, credential = await api.register_device(device_id)
        await api.client.post("/api/v1/schedules", json=schedule(device_id, count=1), headers=api.admin)
        ids[device_id] = (await api.client.get(f"/api/v1/devices/{device_id}/schedule", headers=credential)).json()[
            "intervals"
        ][0]["id"]

    def heartbeat(at: datetime, version: int | None) -> bytes:
        body = {"at": at.isoformat(), "agent_version": "t", "schedule_version": version, "driver_state": "ok"}
        return encode("heartbeat", {**body, "outbox_depth": 0, "outbox_acks": 0, "outbox_telemetry": 0})

    point = {"at": now.isoformat(), "soc_pct": 40.0, "power_kw": 1.0, "state": "charging"}
    messages = [
        DeviceMessage("bat-1", Channel.STATUS, heartbeat(now, 1)),
        DeviceMessage("bat-1", Channel.STATUS, heartbeat(now - timedelta(minutes=5), None)),  # older, arrived later
        DeviceMessage("bat-2", Channel.STATUS, heartbeat(now, None)),  # no version in force: nothing delivered
        DeviceMessage("bat-1", Channel.TELEMETRY, encode("telemetry", [point])),
        DeviceMessage("bat-2", Channel.TELEMETRY, encode("telemetry", [point, {**point, "at": EARLIER}])),
        DeviceMessage("bat-2", Channel.ACKS, encode("acks", [{**ack(ids["bat-2"]), "soc_pct": 77.0}])),
    ]
    async with api.app.state.session_factory() as session:
        reasons = await handle_device_batch(session=session, messages=messages, now=now, contact_every=timedelta(0))
        await session.commit()
    assert reasons == [None] * len(messages)
    for device_id, state in (("bat-1", "delivered"), ("bat-2", "queued")):
        history = (await api.client.get(f"/api/v1/devices/{device_id}/schedules", headers=api.admin)).json()
        assert [item["delivery"]["state"] for item in history["items"]] == [state]
    one = (await api.client.get("/api/v1/devices/bat-1", headers=api.admin)).json()
    two = (await api.client.get("/api/v1/devices/bat-2", headers=api.admin)).json()
    assert one["agent"]["schedule_version"] == 1  # the newest heartbeat won, not the last to arrive
    assert two["last_soc_pct"] == 77.0
    counts = {}
    for device_id in ("bat-1", "bat-2"):
        points = await api.client.get(f"/api/v1/devices/{device_id}/telemetry", headers=api.admin)
        counts[device_id] = len(points.json()["items"])
    assert counts == {"bat-1": 1, "bat-2": 2}


async def test_a_batch_moves_each_interval_to_its_last_record_and_keeps_the_newest_soc(api: Api) -> None:
    now = datetime.now(UTC)
    _, credential = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1", count=2), headers=api.admin)
    view = (await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)).json()
    first, second = (interval["id"] for interval in view["intervals"])
    newest, older = now - timedelta(minutes=1), now - timedelta(minutes=10)
    records = [
        ack(first, "failed", ended_at=older.isoformat(), soc_pct=20.0),
        ack(first, "executed", ended_at=newest.isoformat(), soc_pct=60.0),  # the last record of `first`
        ack(second, "skipped", ended_at=older.isoformat(), soc_pct=30.0),  # arrives last, but read earlier
    ]
    messages = [DeviceMessage("bat-1", Channel.ACKS, encode("acks", [record])) for record in records]
    async with api.app.state.session_factory() as session:
        reasons = await handle_device_batch(session=session, messages=messages, now=now, contact_every=timedelta(0))
        await session.commit()
    assert reasons == [None, None, None]
    [version] = (await api.client.get("/api/v1/devices/bat-1/schedules", headers=api.admin)).json()["items"]
    stored = (await api.client.get(f"/api/v1/schedules/{version['id']}", headers=api.admin)).json()["intervals"]
    moves = [(i["status"], datetime.fromisoformat(i["status_at"])) for i in stored]
    assert moves == [("executed", newest), ("skipped", older)]
    device = (await api.client.get("/api/v1/devices/bat-1", headers=api.admin)).json()
    assert device["last_soc_pct"] == 60.0
    assert len((await api.client.get("/api/v1/devices/bat-1/acks", headers=api.admin)).json()["items"]) == 3
