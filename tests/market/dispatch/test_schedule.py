"""The plan as a schedule: merged intervals, idle steps left out, timestamps in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from gridpilot.market.dispatch import Battery, Dispatch, Method, to_schedule
from gridpilot.protocol import Mode, validate_schedule

BATTERY = Battery(100, 50, 50, 1.0, 1.0, 0, 100)


def plan(net_kw: list[float], step_minutes: float = 60) -> Dispatch:
    net = np.array(net_kw)
    hours = step_minutes / 60
    soc = 50 + np.concatenate([[0.0], np.cumsum(net * hours)])
    return Dispatch(
        np.maximum(net, 0), np.maximum(-net, 0), soc, None, None, 0.0, "Optimal", Method.LP, step_minutes, ()
    )


def test_equal_consecutive_steps_merge_and_idle_steps_are_left_out() -> None:
    start = datetime(2026, 11, 24, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    schedule = to_schedule(plan([20, 20, 0, -10, -30, -30]), battery=BATTERY, device_id="b", start=start)

    assert schedule is not None
    assert [(i.start.hour, i.end.hour, i.mode, i.rate_kw) for i in schedule.intervals] == [
        (0, 2, Mode.CHARGE, 20.0),
        (3, 4, Mode.DISCHARGE, 10.0),
        (4, 6, Mode.DISCHARGE, 30.0),
    ]
    assert schedule.intervals[0].start.tzinfo is UTC


def test_quarter_hour_steps() -> None:
    start = datetime(2026, 11, 24, tzinfo=UTC)
    schedule = to_schedule(plan([40, 40, 0, -40], 15), battery=BATTERY, device_id="b", start=start)

    assert schedule is not None
    assert [(i.start.minute, i.duration_h) for i in schedule.intervals] == [(0, 0.5), (45, 0.25)]
    assert validate_schedule(schedule.to_json(), now=start, limits=BATTERY.limits(), soc_pct=50).ok


def test_an_idle_plan_has_no_schedule() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert to_schedule(plan([0, 1e-5, 0]), battery=BATTERY, device_id="b", start=start) is None


def test_rounding_never_pushes_the_soc_past_a_limit() -> None:
    # 50 kWh of room: 49.99996 kW would round up to 50.0 and end a hair above 100 %.
    full = plan([49.99996, 0.0004])
    full = Dispatch(full.charge_kw, full.discharge_kw, full.soc_pct, None, None, 0.0, "Optimal", Method.LP, 60, ())
    tight = Battery(100, 60, 60, 1.0, 1.0, 0, 99.99996 + 0.0)
    start = datetime(2026, 1, 1, tzinfo=UTC)

    schedule = to_schedule(full, battery=tight, device_id="b", start=start)

    assert schedule is not None
    assert validate_schedule(schedule.to_json(), now=start, limits=tight.limits(), soc_pct=50).ok


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_schedule(plan([10]), battery=BATTERY, device_id="b", start=datetime(2026, 1, 1))
