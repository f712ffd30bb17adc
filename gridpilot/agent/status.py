"""What `gridpilot agent status` shows, read from the local store (works while the agent runs, or after it died)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gridpilot.agent._store import LocalInterval, OutboxStats, Store


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """The schedule in force, the current and next intervals, the driver and the outbox."""

    schedule_version: int | None
    schedule_received_at: datetime | None
    rejected_version: int | None
    current: LocalInterval | None
    upcoming: list[LocalInterval]
    recent: list[tuple[LocalInterval, str | None]]
    controller: dict[str, Any] | None
    controller_at: str | None
    outbox: OutboxStats


def read_status(store_path: Path, *, now: datetime, upcoming: int = 5, recent: int = 5) -> AgentStatus:
    """A snapshot of the agent's local state."""
    store = Store(store_path, read_only=True)
    try:
        open_intervals = store.open_intervals()
        current = next((i for i in open_intervals if i.start <= now < i.end), None)
        version = store.meta("schedule_version")
        received = store.meta("schedule_received_at")
        rejected = store.meta("rejected_version")
        controller = store.meta("controller")
        return AgentStatus(
            schedule_version=None if version is None else int(version),
            schedule_received_at=None if received is None else datetime.fromtimestamp(float(received), now.tzinfo),
            rejected_version=None if rejected in (None, "None") else int(rejected),
            current=current,
            upcoming=[i for i in open_intervals if i.start > now][:upcoming],
            recent=store.recent_intervals(recent),
            controller=None if controller is None else json.loads(controller),
            controller_at=store.meta("controller_at"),
            outbox=store.outbox_stats(),
        )
    finally:
        store.close()
