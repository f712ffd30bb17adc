"""Response bodies of routes that hand device records to the queue instead of storing them at once."""

from __future__ import annotations

from pydantic import BaseModel


class Queued(BaseModel):
    """Accepted for processing: durable on the queue, stored by a worker shortly (replays are harmless)."""

    queued: int


QUEUED_RESPONSE: dict[int | str, dict[str, object]] = {
    202: {"model": Queued, "description": "Valid and durably queued (RabbitMQ configured); a worker stores it soon"}
}
