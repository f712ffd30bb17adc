"""The local store: schedule replacement keeps what ran, one ack per interval, a bounded outbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gridpilot.agent._store import Store
from tests.agent.factories import T0, interval


def test_a_new_version_drops_superseded_pending_intervals_and_cuts_the_running_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.replace_schedule(version=1, etag="v1", intervals=[interval(1, 0, 600), interval(2, 600, 1200)], now=T0)
    store.start_interval(1, T0)
    cut = interval(1, 0, 300)
    store.replace_schedule(version=2, etag="v2", intervals=[cut, interval(3, 300, 900)], now=T0 + timedelta(seconds=10))
    open_ = {i.id: i for i in store.open_intervals()}
    assert set(open_) == {1, 3}
    assert open_[1].state == "running" and open_[1].end == cut.end and open_[1].started_at == T0
    assert store.meta("etag") == "v2" and store.meta("schedule_version") == "2"


def test_a_running_interval_missing_from_the_new_version_ends_now(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.replace_schedule(version=1, etag="v1", intervals=[interval(1, 0, 600)], now=T0)
    store.start_interval(1, T0)
    store.replace_schedule(version=2, etag="v2", intervals=[], now=T0 + timedelta(seconds=30))
    [running] = store.open_intervals()
    assert running.end == T0 + timedelta(seconds=30)
    assert "superseded by version 2" in running.notes


def test_an_interval_is_finished_and_acknowledged_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.replace_schedule(version=1, etag="v1", intervals=[interval(1, 0, 60)], now=T0)
    assert store.finish_interval(1, outcome="executed", ended_at=T0, ack={"ack_id": "a"}, at=T0)
    assert not store.finish_interval(1, outcome="executed", ended_at=T0, ack={"ack_id": "b"}, at=T0)
    assert [r.payload["ack_id"] for r in store.oldest("ack", 10)] == ["a"]
    store.replace_schedule(version=2, etag="v2", intervals=[interval(1, 0, 60)], now=T0)
    assert store.open_intervals() == []  # a finished interval is history, a resent view does not revive it


def test_the_outbox_thins_old_telemetry_and_never_drops_acks(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    for n in range(10):
        store.enqueue("ack", {"n": n}, T0)
    for n in range(100):
        store.enqueue("telemetry", {"n": n}, T0 + timedelta(seconds=n))
    assert store.thin_telemetry(200) == 0
    dropped = store.thin_telemetry(50)
    stats = store.outbox_stats()
    assert dropped == 25 and stats.acks == 10 and stats.telemetry == 75
    kept = [r.payload["n"] for r in store.oldest("telemetry", 1000)]
    assert kept[:5] == [0, 2, 4, 6, 8]  # the oldest half at half the rate
    assert kept[-50:] == list(range(50, 100))  # the recent half untouched
    assert stats.oldest_at == T0


def test_newest_and_oldest_do_not_overlap_and_buried_records_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    for n in range(10):
        store.enqueue("telemetry", {"n": n}, T0)
    oldest = store.oldest("telemetry", 3)
    newest = store.newest("telemetry", 2, after_seq=oldest[-1].seq)
    assert [r.payload["n"] for r in oldest + newest] == [0, 1, 2, 8, 9]
    store.bury([oldest[0].seq], "refused", T0)
    store.delete([r.seq for r in newest])
    stats = store.outbox_stats()
    assert stats.telemetry == 7 and stats.dead_letters == 1


def test_the_store_survives_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.replace_schedule(version=1, etag="v1", intervals=[interval(1, 0, 60)], now=T0)
    store.start_interval(1, T0)
    store.checkpoint(1, T0 + timedelta(seconds=5), 0.25, note="limited. ")
    store.close()
    again = Store(tmp_path / "agent.db")
    [running] = again.open_intervals()
    assert running.checkpoint_at == T0 + timedelta(seconds=5) and running.energy_kwh == 0.25
    assert running.notes == "limited. "


def test_only_due_intervals_are_read_and_the_next_start_is_known(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.replace_schedule(
        version=1, etag="v1", intervals=[interval(n, n * 60, n * 60 + 60) for n in range(1, 200)], now=T0
    )
    assert [i.id for i in store.open_intervals(started_by=T0 + timedelta(seconds=130))] == [1, 2]
    assert store.next_start(T0 + timedelta(seconds=130)) == T0 + timedelta(seconds=180)
    assert store.has_open_intervals() and len(store.open_intervals()) == 199
