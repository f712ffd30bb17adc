"""Draining the outbox into the cloud: at-least-once, in order, in batches, without starving new records.

Records leave the store only after the server confirmed them; the server is idempotent
(acks by ack_id, telemetry by device and time), so a batch resent after a lost answer is
counted once. After a long outage the telemetry backlog drains oldest first, while each
round also carries the newest points, so live data is never hours behind the backlog.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from gridpilot.agent._mqtt import MqttLink
from gridpilot.agent._store import OutboxKind, OutboxRecord, Store
from gridpilot.agent._transport import CloudClient, RecordsRefused
from gridpilot.protocol.mqtt import Channel

log = logging.getLogger("gridpilot.agent")


class Uplink:
    """Sends queued records in rounds: reports, then acks, then telemetry (newest few + oldest batch)."""

    def __init__(self, *, store: Store, client: CloudClient, batch: int, mqtt: MqttLink | None = None) -> None:
        self._store = store
        self._client = client
        self._mqtt = mqtt
        self.sent: Counter[str] = Counter()
        self._batch = batch
        self._live = max(1, batch // 10)

    async def drain_round(self, now: datetime) -> int:
        """Send one round; returns how many records left the outbox. TransportError propagates (retry later)."""
        sent = 0
        for kind in ("rejection", "ack"):
            records = self._store.oldest(kind, self._batch)
            if records:
                sent += await self._send(kind, records, now)
        backlog = self._store.oldest("telemetry", self._batch)
        if backlog:
            live = self._store.newest("telemetry", self._live, after_seq=backlog[-1].seq)
            sent += await self._send("telemetry", backlog + live, now)
        return sent

    async def _send(self, kind: OutboxKind, records: list[OutboxRecord], now: datetime) -> int:
        try:
            await self._post(kind, records, now)
        except RecordsRefused as exc:
            if len(records) == 1:
                log.error("the cloud refused a %s record for good; kept in dead_letters: %s", kind, exc)
                self._store.bury([records[0].seq], str(exc), now)
                return 1
            log.warning(
                "the cloud refused a batch of %s %s records; sending them one by one: %s", len(records), kind, exc
            )
            return sum([await self._send(kind, [record], now) for record in records])
        self._store.delete([record.seq for record in records])
        self.sent[kind] += len(records)
        return len(records)

    async def _post(self, kind: OutboxKind, records: list[OutboxRecord], now: datetime) -> None:
        if self._mqtt is not None and self._mqtt.connected and kind in ("ack", "telemetry"):
            channel, type_ = (Channel.ACKS, "acks") if kind == "ack" else (Channel.TELEMETRY, "telemetry")
            await self._mqtt.publish(channel, type_, [record.payload for record in records])
        elif kind == "ack":
            result = await self._client.post_acks([record.payload for record in records])
            refused = {item["index"]: item["detail"] for item in result.get("rejected", [])}
            for index, detail in refused.items():
                log.error("ack %s refused by the cloud: %s", records[index].payload.get("ack_id"), detail)
                self._store.bury([records[index].seq], detail, now)
        elif kind == "telemetry":
            await self._client.post_telemetry([record.payload for record in records])
        else:
            for record in records:
                await self._client.post_rejection(record.payload)
