"""Online/offline from contact and from the MQTT last will, with a grace that damps a flapping link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridpilot.dependencies import get_now
from gridpilot.fleet import service as device_service
from tests.conftest import Api

T0 = datetime.now(UTC).replace(microsecond=0)


async def _status(api: Api, at: datetime, device_id: str = "bat-1") -> tuple[str, list[str]]:
    api.app.dependency_overrides[get_now] = lambda: at
    device = (await api.client.get(f"/api/v1/devices/{device_id}", headers=api.admin)).json()
    listed = (await api.client.get("/api/v1/devices", params={"status": device["status"]}, headers=api.admin)).json()
    return device["status"], [d["id"] for d in listed["items"]]


async def _lose_link(api: Api, at: datetime) -> None:
    async with api.app.state.session_factory() as session:
        await device_service.record_link_lost(session=session, device_id="bat-1", now=at)
        await session.commit()


async def test_a_lost_link_shows_offline_only_after_the_grace_and_contact_ends_it(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    api.app.dependency_overrides[get_now] = lambda: T0
    await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
    assert await _status(api, T0) == ("online", ["bat-1"])

    await _lose_link(api, T0 + timedelta(seconds=10))
    assert await _status(api, T0 + timedelta(seconds=40)) == ("online", ["bat-1"])  # within the 60 s grace
    assert await _status(api, T0 + timedelta(seconds=71)) == ("offline", ["bat-1"])  # the list filter agrees

    api.app.dependency_overrides[get_now] = lambda: T0 + timedelta(seconds=75)  # within contact coalescing
    await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
    assert await _status(api, T0 + timedelta(seconds=76)) == ("online", ["bat-1"])


async def test_a_flapping_link_never_shows_offline(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    for second in range(0, 600, 30):  # the link drops every 30 s and the device is back 20 s later
        at = T0 + timedelta(seconds=second)
        await _lose_link(api, at)
        assert (await _status(api, at + timedelta(seconds=19)))[0] in ("online", "never-seen")
        api.app.dependency_overrides[get_now] = lambda at=at: at + timedelta(seconds=20)
        await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
        assert (await _status(api, at + timedelta(seconds=21)))[0] == "online"


async def test_silence_still_means_offline_after_the_timeout(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    api.app.dependency_overrides[get_now] = lambda: T0
    await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
    assert (await _status(api, T0 + timedelta(seconds=901)))[0] == "offline"
