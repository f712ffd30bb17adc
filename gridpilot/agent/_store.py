"""The agent's local SQLite store: the schedule in force, each interval's execution state, and the outbox.

Durability is the point: WAL with synchronous=FULL, and every change that must not be
half-done (an interval finished + its ack queued) is one transaction, so `kill -9` or a
power cut at any instant leaves either the old state or the new one. Times are stored
as UTC epoch seconds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gridpilot.protocol.schedule import Mode

OutboxKind = Literal["ack", "rejection", "telemetry"]
IntervalState = Literal["pending", "running", "done"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intervals (
    id INTEGER PRIMARY KEY,            -- the server's interval id, which acks refer to
    version INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    mode INTEGER NOT NULL,
    rate_kw REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    started_at REAL,
    checkpoint_at REAL,
    energy_kwh REAL NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '',
    outcome TEXT,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS ix_intervals_state_start ON intervals (state, start);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_outbox_kind_seq ON outbox (kind, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    buried_at REAL NOT NULL
);
"""


def to_epoch(moment: datetime) -> float:
    """A timezone-aware datetime as UTC epoch seconds."""
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    """UTC epoch seconds as an aware datetime."""
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class LocalInterval:
    """An interval as the agent tracks it: the plan and how far its execution got."""

    id: int
    version: int
    start: datetime
    end: datetime
    mode: Mode
    rate_kw: float
    state: IntervalState = "pending"
    started_at: datetime | None = None
    checkpoint_at: datetime | None = None
    energy_kwh: float = 0.0
    notes: str = ""


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One queued record, in the order it was made."""

    seq: int
    kind: OutboxKind
    created_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the edge is holding: for the heartbeat and `gridpilot agent status`."""

    depth: int
    acks: int
    rejections: int
    telemetry: int
    oldest_at: datetime | None
    dead_letters: int


class Store:
    """One SQLite connection, used from the agent's single event-loop thread."""

    def __init__(self, path: Path, *, read_only: bool = False, durable: bool = True) -> None:
        """durable=False (synchronous=NORMAL) is for the fleet simulator only: it may lose the last commits on a
        power cut, which a simulated device does not have; a real agent always runs durable."""
        if read_only:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
        self._db.execute("PRAGMA busy_timeout=5000")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A stored scalar (etag, schedule version, driver state...)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, **values: str) -> None:
        """Store scalars in one transaction."""
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())

    # -- schedule -----------------------------------------------------------------------------

    def replace_schedule(self, *, version: int, etag: str, intervals: list[LocalInterval], now: datetime) -> None:
        """Put a newly accepted schedule version in force, keeping what has already run.

        Pending intervals missing from the new version are dropped (the server superseded
        them); a running one keeps its progress and takes the new end (the cut); one that
        disappeared altogether ends now. Finished intervals are history and untouched.
        """
        new_ids = [interval.id for interval in intervals]
        with self._transaction() as db:
            dropped = f"id NOT IN ({','.join('?' * len(new_ids))})" if new_ids else "1"
            db.execute(f"DELETE FROM intervals WHERE state = 'pending' AND {dropped}", new_ids)  # noqa: S608
            db.execute(
                f"UPDATE intervals SET end = MIN(end, ?), notes = notes || ? "  # noqa: S608
                f"WHERE state = 'running' AND {dropped}",
                [to_epoch(now), f"superseded by version {version}; ", *new_ids],
            )
            db.executemany(
                "INSERT INTO intervals (id, version, start, end, mode, rate_kw) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET "
                "version = excluded.version, end = excluded.end, "
                "start = CASE WHEN state = 'pending' THEN excluded.start ELSE start END, "
                "mode = CASE WHEN state = 'pending' THEN excluded.mode ELSE mode END, "
                "rate_kw = CASE WHEN state = 'pending' THEN excluded.rate_kw ELSE rate_kw END "
                "WHERE state != 'done'",
                [(i.id, version, to_epoch(i.start), to_epoch(i.end), int(i.mode), i.rate_kw) for i in intervals],
            )
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("schedule_version", str(version)), ("etag", etag), ("schedule_received_at", str(to_epoch(now)))],
            )

    def open_intervals(self, *, started_by: datetime | None = None) -> list[LocalInterval]:
        """Intervals not yet finished, by start; only those starting at or before `started_by` when given.

        The control loop asks only for what is due, so a step costs the same with 2,000
        intervals ahead as with two.
        """
        bound = float("inf") if started_by is None else to_epoch(started_by)
        rows = self._db.execute(
            "SELECT id, version, start, end, mode, rate_kw, state, started_at, checkpoint_at, energy_kwh, notes "
            "FROM intervals WHERE state != 'done' AND start <= ? ORDER BY start",
            (bound,),
        ).fetchall()
        return [_interval(row) for row in rows]

    def next_start(self, after: datetime) -> datetime | None:
        """The start of the first pending interval after `after`."""
        row = self._db.execute(
            "SELECT MIN(start) FROM intervals WHERE state = 'pending' AND start > ?", (to_epoch(after),)
        ).fetchone()
        return None if row[0] is None else from_epoch(row[0])

    def has_open_intervals(self) -> bool:
        """True while any interval is still to run or running."""
        return self._db.execute("SELECT 1 FROM intervals WHERE state != 'done' LIMIT 1").fetchone() is not None

    def recent_intervals(self, limit: int) -> list[tuple[LocalInterval, str | None]]:
        """The last finished intervals with their outcome, newest first (for `agent status`)."""
        rows = self._db.execute(
            "SELECT id, version, start, end, mode, rate_kw, state, started_at, checkpoint_at, energy_kwh, notes, "
            "outcome FROM intervals WHERE state = 'done' ORDER BY start DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(_interval(row[:11]), row[11]) for row in rows]

    def start_interval(self, interval_id: int, at: datetime, note: str = "") -> None:
        """Mark an interval running (before its setpoint is sent, so a crash in between resumes it)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE intervals SET state = 'running', started_at = ?, checkpoint_at = ?, notes = notes || ? "
                "WHERE id = ? AND state = 'pending'",
                (to_epoch(at), to_epoch(at), note, interval_id),
            )

    def checkpoint(self, interval_id: int, at: datetime, energy_kwh: float, note: str = "") -> None:
        """Record that the interval was still running at `at`, with the energy so far and any new note."""
        with self._transaction() as db:
            db.execute(
                "UPDATE intervals SET checkpoint_at = ?, energy_kwh = ?, notes = notes || ? "
                "WHERE id = ? AND state = 'running'",
                (to_epoch(at), energy_kwh, note, interval_id),
            )

    def finish_interval(
        self, interval_id: int, *, outcome: str, ended_at: datetime | None, ack: dict[str, Any], at: datetime
    ) -> bool:
        """Close the interval and queue its ack in one transaction: exactly one ack per interval, ever."""
        with self._transaction() as db:
            closed = db.execute(
                "UPDATE intervals SET state = 'done', outcome = ?, ended_at = ? WHERE id = ? AND state != 'done'",
                (outcome, None if ended_at is None else to_epoch(ended_at), interval_id),
            ).rowcount
            if closed:
                db.execute(
                    "INSERT INTO outbox (kind, created_at, payload) VALUES ('ack', ?, ?)",
                    (to_epoch(at), json.dumps(ack)),
                )
        return bool(closed)

    def purge_finished(self, before: datetime) -> int:
        """Forget finished intervals that ended before `before` (their acks are already queued or sent)."""
        with self._transaction() as db:
            return db.execute("DELETE FROM intervals WHERE state = 'done' AND end < ?", (to_epoch(before),)).rowcount

    # -- outbox -------------------------------------------------------------------------------

    def enqueue(self, kind: OutboxKind, payload: dict[str, Any], at: datetime) -> None:
        """Queue a record for the cloud."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO outbox (kind, created_at, payload) VALUES (?, ?, ?)",
                (kind, to_epoch(at), json.dumps(payload)),
            )

    def oldest(self, kind: OutboxKind, limit: int) -> list[OutboxRecord]:
        """The oldest queued records of a kind, oldest first."""
        rows = self._db.execute(
            "SELECT seq, kind, created_at, payload FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?", (kind, limit)
        ).fetchall()
        return [_record(row) for row in rows]

    def newest(self, kind: OutboxKind, limit: int, after_seq: int) -> list[OutboxRecord]:
        """The newest queued records of a kind made after seq `after_seq`, oldest first."""
        rows = self._db.execute(
            "SELECT seq, kind, created_at, payload FROM outbox WHERE kind = ? AND seq > ? ORDER BY seq DESC LIMIT ?",
            (kind, after_seq, limit),
        ).fetchall()
        return [_record(row) for row in reversed(rows)]

    def delete(self, seqs: list[int]) -> None:
        """Forget records the cloud has confirmed."""
        with self._transaction() as db:
            db.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in seqs])

    def bury(self, seqs: list[int], error: str, at: datetime) -> None:
        """Move records the cloud refuses for good out of the queue, keeping them with the reason."""
        with self._transaction() as db:
            for seq in seqs:
                db.execute(
                    "INSERT OR IGNORE INTO dead_letters (seq, kind, created_at, payload, error, buried_at) "
                    "SELECT seq, kind, created_at, payload, ?, ? FROM outbox WHERE seq = ?",
                    (error[:1000], to_epoch(at), seq),
                )
                db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def thin_telemetry(self, max_records: int) -> int:
        """Keep the outbox within max_records by dropping every other telemetry point among the oldest half.

        Acks and rejection reports are never dropped. Repeated thinning halves the
        resolution of the oldest data first, so the recent past stays at full rate.
        """
        depth = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        if depth <= max_records:
            return 0
        telemetry = self._db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'telemetry'").fetchone()[0]
        with self._transaction() as db:
            return db.execute(
                "DELETE FROM outbox WHERE seq IN ("
                "  SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER (ORDER BY seq) AS n FROM outbox"
                "                   WHERE kind = 'telemetry' ORDER BY seq LIMIT ?)"
                "  WHERE n % 2 = 0)",
                (max(2, telemetry // 2),),
            ).rowcount

    def outbox_stats(self) -> OutboxStats:
        """Depth by kind and the age of the oldest record."""
        counts = dict(self._db.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind").fetchall())
        oldest = self._db.execute("SELECT MIN(created_at) FROM outbox").fetchone()[0]
        dead = self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        return OutboxStats(
            depth=sum(counts.values()),
            acks=counts.get("ack", 0),
            rejections=counts.get("rejection", 0),
            telemetry=counts.get("telemetry", 0),
            oldest_at=None if oldest is None else from_epoch(oldest),
            dead_letters=dead,
        )


def _interval(row: tuple[Any, ...]) -> LocalInterval:
    (id_, version, start, end, mode, rate, state, started, checkpoint, energy, notes) = row
    return LocalInterval(
        id=id_,
        version=version,
        start=from_epoch(start),
        end=from_epoch(end),
        mode=Mode(mode),
        rate_kw=rate,
        state=state,
        started_at=None if started is None else from_epoch(started),
        checkpoint_at=None if checkpoint is None else from_epoch(checkpoint),
        energy_kwh=energy,
        notes=notes,
    )


def _record(row: tuple[Any, ...]) -> OutboxRecord:
    seq, kind, created_at, payload = row
    return OutboxRecord(seq=seq, kind=kind, created_at=from_epoch(created_at), payload=json.loads(payload))
