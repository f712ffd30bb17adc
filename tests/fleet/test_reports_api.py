"""Agent reports: the latest heartbeat shows on the device, refused schedule versions show in its history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.fleet.factories import next_quarter_hour, schedule

HEARTBEAT = "/api/v1/devices/bat-1/heartbeat"
REJECTIONS = "/api/v1/devices/bat-1/schedule-rejections"


def heartbeat(at: datetime, **fields: object) -> dict[str, object]:
    """A heartbeat stamped `at`."""
    return {
        "at": at.isoformat(),
        "agent_version": "0.3.1",
        "schedule_version": 1,
        "driver_state": "ok",
        "fault": None,
        "outbox_depth": 2,
        "outbox_oldest_at": (at - timedelta(minutes=1)).isoformat(),
        "outbox_acks": 1,
        "outbox_telemetry": 1,
        **fields,
    }


def rejection(version: int = 1, at: datetime | None = None) -> dict[str, object]:
    """A report that the device's validator refused `version`."""
    return {
        "version": version,
        "at": (at or datetime.now(UTC)).isoformat(),
        "violations": [{"pointer": "/intervals/0/rate_kw", "code": "rate_exceeds_limit", "message": "6 kW > 5 kW"}],
    }


async def _agent(api: Api, device_id: str = "bat-1") -> Any:
    return (await api.client.get(f"/api/v1/devices/{device_id}", headers=api.viewer)).json()["agent"]


async def test_the_latest_heartbeat_shows_on_the_device_and_late_replays_are_ignored(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    assert await _agent(api) is None
    now = datetime.now(UTC).replace(microsecond=0)
    response = await api.client.post(HEARTBEAT, json=heartbeat(now), headers=credential)
    assert response.status_code == 204, response.text
    agent = await _agent(api)
    assert datetime.fromisoformat(agent["at"]) == now
    assert agent["agent_version"] == "0.3.1"
    assert agent["outbox_depth"] == 2
    assert agent["received_at"] is not None
    older = heartbeat(now - timedelta(minutes=5), agent_version="0.2.0", driver_state="fault", fault="modbus timeout")
    assert (await api.client.post(HEARTBEAT, json=older, headers=credential)).status_code == 204
    assert (await _agent(api))["agent_version"] == "0.3.1"
    newer = heartbeat(now + timedelta(seconds=30), driver_state="disconnected", outbox_oldest_at=None)
    assert (await api.client.post(HEARTBEAT, json=newer, headers=credential)).status_code == 204
    agent = await _agent(api)
    assert (agent["driver_state"], agent["outbox_oldest_at"]) == ("disconnected", None)
    listed = (await api.client.get("/api/v1/devices", headers=api.viewer)).json()["items"]
    assert [d["agent"]["driver_state"] for d in listed] == ["disconnected"]


async def test_a_heartbeat_stamped_ahead_of_the_server_clock_is_refused(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    ahead = heartbeat(datetime.now(UTC) + timedelta(minutes=6))
    response = await api.client.post(HEARTBEAT, json=ahead, headers=credential)
    assert response.status_code == 422
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [("/at", "in_future")]
    assert await _agent(api) is None
    assert (await api.client.post(HEARTBEAT, json=heartbeat(datetime.now(UTC)), headers=credential)).status_code == 204


async def test_devices_without_a_heartbeat_list_with_a_null_agent(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    await api.register_device("bat-2")
    await api.client.post(HEARTBEAT, json=heartbeat(datetime.now(UTC)), headers=credential)
    listed = (await api.client.get("/api/v1/devices", headers=api.viewer)).json()["items"]
    assert [(d["id"], d["agent"] is None) for d in listed] == [("bat-1", False), ("bat-2", True)]


@pytest.mark.parametrize(
    "fields, pointer",
    [
        ({"at": "2026-01-01T00:00:00"}, "/at"),
        ({"outbox_depth": -1}, "/outbox_depth"),
        ({"driver_state": "sleeping"}, "/driver_state"),
        ({"agent_version": "x" * 65}, "/agent_version"),
        ({"fault": "x" * 1001}, "/fault"),
        ({"uptime_s": 5}, "/uptime_s"),
    ],
)
async def test_malformed_heartbeats_are_422(api: Api, fields: dict[str, object], pointer: str) -> None:
    _, credential = await api.register_device("bat-1")
    response = await api.client.post(HEARTBEAT, json={**heartbeat(datetime.now(UTC)), **fields}, headers=credential)
    assert response.status_code == 422
    assert pointer in {e.get("pointer") for e in response.json()["errors"]}
    assert await _agent(api) is None


async def test_only_the_device_itself_reports(api: Api) -> None:
    _, credential_a = await api.register_device("bat-a")
    await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    beat = heartbeat(datetime.now(UTC))
    for url, body in ((HEARTBEAT, beat), (REJECTIONS, rejection())):
        assert (await api.client.post(url, json=body, headers=credential_a)).status_code == 403
        assert (await api.client.post(url, json=body, headers=api.admin)).status_code == 403
        assert (await api.client.post(url, json=body)).status_code == 401
    assert await _agent(api) is None


async def _history(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.client.get("/api/v1/devices/bat-1/schedules", headers=api.viewer)).json()[
        "items"
    ]
    return items


async def test_a_rejection_shows_in_the_history_and_a_replay_is_stored_once(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    for offset in (0, 2):
        body = schedule("bat-1", start=next_quarter_hour(timedelta(hours=offset)))
        assert (await api.client.post("/api/v1/schedules", json=body, headers=api.admin)).status_code == 201
    report = rejection(version=1)
    response = await api.client.post(REJECTIONS, json=report, headers=credential)
    assert response.status_code == 202, response.text
    assert response.json() == {"recorded": True}
    assert (await api.client.post(REJECTIONS, json=report, headers=credential)).status_code == 202
    history = await _history(api)
    assert [h["version"] for h in history] == [2, 1]
    assert history[0]["rejected_by_device"] is None
    refused = history[1]["rejected_by_device"]
    assert datetime.fromisoformat(refused["at"]) == datetime.fromisoformat(str(report["at"]))
    assert refused["violations"] == report["violations"]
    audit = (await api.client.get("/api/v1/audit?target_id=bat-1", headers=api.admin)).json()["items"]
    assert [e["action"] for e in audit].count("schedules.rejected_by_device") == 1


async def test_the_latest_rejection_of_a_version_is_shown(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    now = datetime.now(UTC)
    later = rejection(at=now)
    later["violations"] = [{"pointer": "/intervals/1/start", "code": "overlap", "message": "overlaps /intervals/0"}]
    for body in (later, rejection(at=now - timedelta(minutes=1))):
        assert (await api.client.post(REJECTIONS, json=body, headers=credential)).status_code == 202
    assert (await _history(api))[0]["rejected_by_device"]["violations"][0]["code"] == "overlap"


async def test_rejecting_an_unknown_version_is_404_naming_it(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    await api.register_device("bat-2")
    await api.client.post("/api/v1/schedules", json=schedule("bat-2"), headers=api.admin)
    response = await api.client.post(REJECTIONS, json=rejection(version=1), headers=credential)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert "version 1" in problem["detail"]
    assert problem["version"] == 1


@pytest.mark.parametrize(
    "change, pointer",
    [
        ({"version": 0}, "/version"),
        ({"at": "2026-01-01T00:00:00"}, "/at"),
        ({"violations": []}, "/violations"),
        ({"violations": [{"pointer": "", "code": "x"}]}, "/violations/0/message"),
        ({"violations": [{"pointer": "", "code": "x" * 65, "message": ""}]}, "/violations/0/code"),
    ],
)
async def test_malformed_rejections_are_422(api: Api, change: dict[str, object], pointer: str) -> None:
    _, credential = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    response = await api.client.post(REJECTIONS, json={**rejection(), **change}, headers=credential)
    assert response.status_code == 422
    assert pointer in {e.get("pointer") for e in response.json()["errors"]}
    assert (await _history(api))[0]["rejected_by_device"] is None
