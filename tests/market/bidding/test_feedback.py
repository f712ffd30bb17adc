"""Accepted volumes flow back into the devices' plans, feasibly, as schedules the fleet validator accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gridpilot.market.bidding import DevicePlan, apply_acceptance, schedule_json
from gridpilot.protocol import BatteryLimits, validate_schedule
from tests.market.bidding.factories import hours, plan


def limits(p: DevicePlan) -> BatteryLimits:
    return BatteryLimits(
        capacity_kwh=p.capacity_mwh * 1000,
        max_charge_kw=p.max_charge_mw * 1000,
        max_discharge_kw=p.max_discharge_mw * 1000,
        min_soc_pct=p.min_soc_pct,
        max_soc_pct=p.max_soc_pct,
        charge_efficiency=p.charge_efficiency,
        discharge_efficiency=p.discharge_efficiency,
    )


def test_each_hour_is_scaled_to_the_accepted_volume() -> None:
    plans = [plan("a", [1.0, -0.5]), plan("b", [0.5, -0.5])]
    delivery = apply_acceptance(plans, [0.75, -1.0])
    assert [p.planned_mw for p in delivery.plans] == [(0.5, -0.5), (0.25, -0.5)]
    assert delivery.shortfall_mw == [0.0, 0.0]


def test_internal_netting_is_kept_and_only_the_net_side_shrinks() -> None:
    plans = [plan("a", [-1.0]), plan("b", [0.4])]
    delivery = apply_acceptance(plans, [0.0])  # the sale of 0.6 did not clear
    assert [p.planned_mw[0] for p in delivery.plans] == [pytest.approx(-0.4), 0.4]


def test_a_rejected_charge_limits_a_later_sale_and_says_so() -> None:
    # 50 % of 2 MWh lossless: 0.8 MWh above the floor; the plan buys 1 then sells 1.8
    plans = [plan("a", [1.0, -1.0, -0.8], max_discharge_mw=1.0)]
    delivery = apply_acceptance(plans, [0.0, -1.0, -0.8])
    positions = delivery.plans[0].planned_mw
    assert positions[0] == pytest.approx(1e-6)  # the placeholder: the old plan began in hour 0
    assert positions[1] == pytest.approx(-0.8, abs=1e-5) and positions[2] == 0.0
    assert delivery.shortfall_mw[2] == pytest.approx(-0.8, abs=1e-5)
    assert delivery.placeholders == ["a"]


def test_schedules_merge_equal_hours_and_pass_the_validator() -> None:
    p = plan(
        "a", [0.5, 0.5, 0.0, -0.3333333, -0.8], charge_efficiency=0.95, discharge_efficiency=0.95, initial_soc_pct=30
    )
    delivered = apply_acceptance([p], [0.5, 0.5, 0.0, -0.3333333, -0.8]).plans[0]
    schedule = schedule_json(delivered, hours(5))
    assert schedule is not None
    intervals = schedule["intervals"]
    assert isinstance(intervals, list) and intervals[0]["end"] == "2026-11-24T02:00:00Z"
    now = datetime(2026, 11, 23, tzinfo=UTC)
    result = validate_schedule(schedule, now=now, limits=limits(p), soc_pct=p.initial_soc_pct)
    assert result.violations == ()


def test_an_idle_plan_has_no_schedule() -> None:
    assert schedule_json(plan("a", [0.0, 0.0]), hours(2)) is None
