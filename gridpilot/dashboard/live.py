"""Live updates: one subscription to the event bus per server process, fanned out to its WebSocket clients.

Each client gets at most one frame per FRAME_INTERVAL_S holding everything that arrived
since its last frame (so a busy fleet costs a browser a few frames a second, not thousands
of messages), only the events of the device it watches if it watches one, and a fleet
summary every PULSE_INTERVAL_S (which is how timeouts — a device going quiet — show up).
A client that falls too far behind loses the oldest events and is told how many, so the
page knows to resynchronize.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from gridpilot.dashboard.session import session_operator
from gridpilot.live.bus import LiveBus
from gridpilot.live.events import LiveEvent

log = logging.getLogger(__name__)

FRAME_INTERVAL_S = 0.1
PULSE_INTERVAL_S = 1.0
CLIENT_BACKLOG = 500  # events held for one client between frames

Summary = Callable[[], Awaitable[dict[str, Any]]]


class LiveClient:
    """One browser tab: what it watches and the events waiting for its next frame."""

    def __init__(self, device_id: str | None) -> None:
        self.device_id = device_id
        self.pending: list[LiveEvent] = []
        self.dropped = 0
        self.summary: dict[str, Any] | None = None
        self.wake = asyncio.Event()

    def offer(self, events: list[LiveEvent]) -> None:
        """Queue the events this client wants; past the backlog the oldest go."""
        wanted = events if self.device_id is None else [e for e in events if e.get("device_id") == self.device_id]
        if not wanted:
            return
        self.pending.extend(wanted)
        if len(self.pending) > CLIENT_BACKLOG:
            excess = len(self.pending) - CLIENT_BACKLOG
            del self.pending[:excess]
            self.dropped += excess
        self.wake.set()

    def take_frame(self) -> dict[str, Any]:
        """Everything waiting, as one frame."""
        frame: dict[str, Any] = {"type": "events", "events": self.pending}
        if self.dropped:
            frame["dropped"] = self.dropped
        if self.summary is not None:
            frame["fleet"] = self.summary
        self.pending, self.dropped, self.summary = [], 0, None
        self.wake.clear()
        return frame


class LiveHub:
    """The server process's fan-out from the bus to its clients."""

    def __init__(self, bus: LiveBus, summary: Summary | None = None) -> None:
        self.bus = bus
        self._summary = summary
        self.clients: set[LiveClient] = set()

    async def run(self) -> None:
        """Forward bus batches and fleet pulses to the clients until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._forward())
            if self._summary is not None:
                group.create_task(self._pulse(self._summary))

    async def _forward(self) -> None:
        async for batch in self.bus.subscribe():
            for client in self.clients:
                client.offer(batch)

    async def _pulse(self, summary: Summary) -> None:
        while True:
            await asyncio.sleep(PULSE_INTERVAL_S)
            watchers = [client for client in self.clients if client.device_id is None]
            if not watchers:
                continue
            try:
                current = await summary()
            except Exception:  # a database hiccup must not end live updates
                log.exception("the fleet summary for live clients failed")
                continue
            for client in watchers:
                client.summary = current
                client.wake.set()

    async def serve(self, websocket: WebSocket, client: LiveClient) -> None:
        """Send frames to one client until it goes away."""
        self.clients.add(client)
        try:
            await websocket.send_json({"type": "hello"})
            receiver = asyncio.create_task(_until_closed(websocket))
            try:
                while not receiver.done():
                    waiter = asyncio.create_task(client.wake.wait())
                    await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if receiver.done():
                        break
                    await websocket.send_json(client.take_frame())
                    await asyncio.sleep(FRAME_INTERVAL_S)
            finally:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await receiver
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away mid-send
        finally:
            self.clients.discard(client)


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


router = APIRouter()


@router.websocket("/live")
async def live(websocket: WebSocket, device: str | None = None) -> None:
    """The live event stream of the fleet, or of one device; the session cookie authenticates."""
    async with websocket.app.state.session_factory() as session:
        actor = await session_operator(websocket, session)
    await websocket.accept()  # before refusing: a close before the handshake is an HTTP 403 the page cannot read
    if actor is None:
        await websocket.close(code=4401, reason="log in first")
        return
    hub: LiveHub = websocket.app.state.live_hub
    await hub.serve(websocket, LiveClient(device))
