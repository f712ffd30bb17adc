"""Received schedules: checked with the same validator against the device's own limits, refused ones reported."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from gridpilot.agent._inbox import parse_view, receive_view
from gridpilot.agent._store import LocalInterval, Store
from gridpilot.protocol.battery import BatteryLimits
from gridpilot.protocol.schedule import Mode
from gridpilot.protocol.validation import SchedulePolicy, Violation
from tests.agent.factories import T0, interval, view

LIMITS = BatteryLimits(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5)
POLICY = SchedulePolicy()


def parse(body: dict[str, object], now: datetime = T0) -> tuple[int, list[LocalInterval]] | list[Violation]:
    return parse_view(body, device_id="bat-1", now=now, limits=LIMITS, policy=POLICY)


def test_a_valid_view_becomes_local_intervals_with_their_ids() -> None:
    version, intervals = parse(view(interval(7, 0, 60), interval(8, 60, 120, Mode.DISCHARGE), version=3))
    assert version == 3
    assert [(i.id, i.mode, i.version) for i in intervals] == [(7, Mode.CHARGE, 3), (8, Mode.DISCHARGE, 3)]


def test_intervals_already_over_are_kept_to_be_recorded_but_not_validated() -> None:
    over_the_limit_but_over = interval(1, 0, 60, rate_kw=50.0)
    _, intervals = parse(view(over_the_limit_but_over, interval(2, 60, 120)), now=T0 + timedelta(seconds=90))
    assert [(i.id, i.version) for i in intervals] == [(1, 1), (2, 1)]


def test_a_rate_above_the_device_limit_is_refused_with_the_pointer_into_the_view() -> None:
    body = view(interval(1, 0, 60), interval(2, 60, 120), interval(3, 120, 180, rate_kw=9.0))
    violations = parse(body, now=T0 + timedelta(seconds=90))  # interval 1 is over and not validated
    assert isinstance(violations, list)
    assert [(v.pointer, v.code) for v in violations] == [("/intervals/2/rate_kw", "over_limit")]


def test_another_devices_view_and_broken_ids_are_refused() -> None:
    body = view(interval(1, 0, 60), device_id="bat-2")
    body["intervals"][0]["id"] = "x"
    violations = parse(body)
    assert {v.pointer for v in violations} == {"/device_id", "/intervals/0/id"}
    assert parse({"device_id": "bat-1", "version": 1, "intervals": "all"}) == [
        Violation("/intervals", "type", "intervals must be an array, not a string")
    ]


def test_garbage_inside_the_intervals_is_reported_not_raised() -> None:
    violations = parse({"device_id": "bat-1", "version": 1, "intervals": [5, None]})
    assert isinstance(violations, list) and {v.pointer for v in violations} >= {"/intervals/0", "/intervals/1"}


def test_an_empty_plan_is_valid() -> None:
    assert parse({"device_id": "bat-1", "version": 0, "intervals": []}) == (0, [])


def test_a_refused_view_is_reported_and_the_schedule_in_force_stays(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    good = view(interval(1, 0, 600), version=1)
    assert receive_view(good, etag="v1", store=store, device_id="bat-1", now=T0, limits=LIMITS, policy=POLICY)
    bad = view(interval(2, 600, 1200, rate_kw=50.0), version=2)
    assert not receive_view(bad, etag="v2", store=store, device_id="bat-1", now=T0, limits=LIMITS, policy=POLICY)
    assert [i.id for i in store.open_intervals()] == [1]
    assert store.meta("schedule_version") == "1"
    assert store.meta("etag") == "v2"  # not fetched again until the server has a newer version
    [report] = store.oldest("rejection", 10)
    assert report.payload["version"] == 2
    assert report.payload["violations"][0]["pointer"] == "/intervals/0/rate_kw"


def test_an_older_version_than_the_one_in_force_is_ignored(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    args = {"store": store, "device_id": "bat-1", "now": T0, "limits": LIMITS, "policy": POLICY}
    assert receive_view(view(interval(1, 0, 60), version=5), etag="v5", **args)
    assert not receive_view(view(interval(2, 0, 60), version=4), etag="v4", **args)
    assert [i.id for i in store.open_intervals()] == [1]
