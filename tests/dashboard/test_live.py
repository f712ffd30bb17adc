"""Live updates: the hub's per-client filtering and batching, and real servers fanning events out through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gridpilot.app import create_app
from gridpilot.auth.schemas import Actor
from gridpilot.config import Settings
from gridpilot.dashboard.live import CLIENT_BACKLOG, LiveClient, LiveHub
from gridpilot.fleet import service as device_service
from gridpilot.fleet.schemas import DeviceIn
from gridpilot.live.bus import LocalBus
from gridpilot.live.events import LiveEvent, status_event
from tests.dashboard.conftest import ADMIN, LiveServer, free_port, log_in, run_outside_the_test_loop, start_server
from tests.live.conftest import REDIS_URL, eventually, until_subscribed
from tests.messaging.rabbit import point

# --- the hub, in-process ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(hub: LiveHub, bus: LocalBus) -> AsyncIterator[LiveHub]:
    """The hub forwarding from its bus until the block ends."""
    task = asyncio.create_task(hub.run())
    await eventually(lambda: bus.subscribers == 1)
    try:
        yield hub
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_hub_gives_each_client_its_devices_events_in_one_frame() -> None:
    bus = LocalBus()
    async with running(LiveHub(bus), bus) as hub:
        fleet_client, device_client, other_client = LiveClient(None), LiveClient("bat-1"), LiveClient("bat-9")
        hub.clients |= {fleet_client, device_client, other_client}
        await bus.publish([status_event("bat-1", "online"), status_event("bat-2", "online")])
        await bus.publish([status_event("bat-1", "offline")])
        await eventually(lambda: len(fleet_client.pending) == 3)
        fleet_frame, device_frame = fleet_client.take_frame(), device_client.take_frame()
    assert [(e["device_id"], e["state"]) for e in fleet_frame["events"]] == [
        ("bat-1", "online"),
        ("bat-2", "online"),
        ("bat-1", "offline"),
    ]
    assert [e["state"] for e in device_frame["events"]] == ["online", "offline"]  # bat-1's only, both batches
    assert "dropped" not in fleet_frame and "dropped" not in device_frame
    assert not other_client.wake.is_set() and other_client.pending == []
    assert fleet_client.pending == [] and not fleet_client.wake.is_set()  # the frame took everything


def test_a_client_that_falls_behind_keeps_the_newest_events_and_is_told_how_many_it_lost() -> None:
    client = LiveClient(None)
    client.offer([status_event(f"bat-{n}", "online") for n in range(CLIENT_BACKLOG)])
    client.offer([status_event(f"late-{n}", "online") for n in range(25)])
    frame = client.take_frame()
    assert frame["dropped"] == 25
    assert len(frame["events"]) == CLIENT_BACKLOG
    assert frame["events"][0]["device_id"] == "bat-25" and frame["events"][-1]["device_id"] == "late-24"
    client.offer([status_event("next", "online")])
    assert "dropped" not in client.take_frame()  # counted once


async def test_the_fleet_summary_pulse_goes_to_fleet_watchers_only() -> None:
    async def summary() -> dict[str, Any]:
        return {"online": 1}

    bus = LocalBus()
    async with running(LiveHub(bus, summary=summary), bus) as hub:
        fleet_client, device_client = LiveClient(None), LiveClient("bat-1")
        hub.clients |= {fleet_client, device_client}
        await asyncio.wait_for(fleet_client.wake.wait(), 10)
    assert fleet_client.take_frame() == {"type": "events", "events": [], "fleet": {"online": 1}}
    assert device_client.summary is None and not device_client.wake.is_set()


# --- real servers ----------------------------------------------------------------------------------------------


def register_device(settings: Settings, device_id: str) -> dict[str, str]:
    """Register a device straight in the servers' database; returns its credential header."""

    async def register() -> str:
        app = create_app(settings)
        async with app.state.session_factory() as session:
            device_in = DeviceIn(
                id=device_id, name=device_id, site="site-a", capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5
            )
            actor = Actor(kind="system", id="test", name="test")
            _, credential = await device_service.register(
                session=session, device_in=device_in, actor=actor, now=datetime.now(UTC)
            )
            await session.commit()
        await app.state.engine.dispose()
        return credential

    return {"Authorization": f"Bearer {run_outside_the_test_loop(register)}"}


async def session_cookie(server: LiveServer) -> str:
    """Log the admin in over HTTP; the Cookie header a WebSocket client sends."""
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        await log_in(client, *ADMIN)
        return f"gridpilot_session={client.cookies['gridpilot_session']}"


def ws_url(server: LiveServer, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/live" + query


async def open_live(url: str, cookie: str | None) -> ClientConnection:
    """A WebSocket on /live, past its hello."""
    headers = {"Cookie": cookie} if cookie else None
    ws = await connect(url, additional_headers=headers, proxy=None, open_timeout=10)
    assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "hello"}
    return ws


async def next_event(ws: ClientConnection, wanted: Callable[[LiveEvent], bool], timeout_s: float = 15.0) -> LiveEvent:
    """Read frames until one carries an event that is wanted."""
    async with asyncio.timeout(timeout_s):
        while True:
            frame = json.loads(await ws.recv())
            assert frame["type"] == "events"
            for event in frame["events"]:
                if wanted(event):
                    return event


async def post(server: LiveServer, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 204), response.text


@pytest.fixture
def redis_server_settings(server_settings: Settings) -> Settings:
    """The real servers' settings with Redis under a channel prefix of this test's own."""
    return server_settings.model_copy(
        update={"redis_url": REDIS_URL, "redis_prefix": f"gridpilot-test-{uuid.uuid4().hex[:10]}"}
    )


@pytest.fixture
def two_servers(redis_server_settings: Settings) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two server processes' worth of app (each its own loop, hub and Redis connection) on one database."""
    first = start_server(redis_server_settings, free_port())
    try:
        second = start_server(redis_server_settings, free_port())
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


async def test_an_event_posted_to_one_server_reaches_the_clients_of_both(
    two_servers: tuple[LiveServer, LiveServer], redis_server_settings: Settings
) -> None:
    a, b = two_servers
    device = register_device(redis_server_settings, "bat-1")
    cookie = await session_cookie(a)  # one login; the signed cookie is good on every server process
    await until_subscribed(f"{redis_server_settings.redis_prefix}:live", 2)  # both hubs listen
    on_a, on_b = await open_live(ws_url(a), cookie), await open_live(ws_url(b, "?device=bat-1"), cookie)
    try:
        await post(a, "/api/v1/devices/bat-1/telemetry", {"points": [point(1)]}, device)
        for ws in (on_a, on_b):
            event = await next_event(ws, lambda e: e["type"] == "telemetry")
            assert event["device_id"] == "bat-1" and event["count"] == 1
        beat = {
            "at": datetime.now(UTC).isoformat(),
            "agent_version": "1",
            "schedule_version": 0,
            "driver_state": "ok",
            "outbox_depth": 3,
            "outbox_acks": 3,
            "outbox_telemetry": 0,
        }
        await post(b, "/api/v1/devices/bat-1/heartbeat", beat, device)
        for ws in (on_a, on_b):
            event = await next_event(ws, lambda e: e["type"] == "status")
            assert event["device_id"] == "bat-1" and event["outbox_depth"] == 3
    finally:
        await on_a.close()
        await on_b.close()


async def test_a_websocket_without_a_login_is_closed_with_4401(live_server: LiveServer) -> None:
    for cookie in (None, "gridpilot_session=forged"):
        ws = await connect(ws_url(live_server), additional_headers={"Cookie": cookie} if cookie else None, proxy=None)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def reconnect(url: str, cookie: str, timeout_s: float = 30.0) -> ClientConnection:
    """What the page does when its socket closes: try again, backing off, until a server answers."""
    delay = 0.1
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                return await open_live(url, cookie)
            except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)


async def test_a_client_reconnects_after_a_server_restart_and_receives_events_again(
    server_settings: Settings,
) -> None:
    port = free_port()
    server = start_server(server_settings, port)
    device = register_device(server_settings, "bat-1")
    try:
        cookie = await session_cookie(server)
        ws = await open_live(ws_url(server), cookie)
        await post(server, "/api/v1/devices/bat-1/telemetry", {"points": [point(1)]}, device)
        await next_event(ws, lambda e: e["type"] == "telemetry")
        await asyncio.to_thread(server.stop)  # in a thread: the client must answer uvicorn's closing handshake
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(15):
                while True:
                    await ws.recv()
        server = await asyncio.to_thread(start_server, server_settings, port)  # a new process's worth, same port
        ws = await reconnect(ws_url(server), cookie)
        await post(server, "/api/v1/devices/bat-1/telemetry", {"points": [point(2)]}, device)
        event = await next_event(ws, lambda e: e["type"] == "telemetry")
        assert event["point"]["at"].startswith(str(point(2)["at"])[:19])
        await ws.close()
    finally:
        await asyncio.to_thread(server.stop)
