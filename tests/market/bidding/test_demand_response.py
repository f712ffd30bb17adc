"""Demand response takes precedence over the economic plan, but never past a device's power or energy limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridpilot.market.bidding import (
    Action,
    DemandResponseEvent,
    DemandResponseKind,
    MarketRules,
    apply_demand_response,
    build_bids,
)
from tests.market.bidding.factories import DAY_START, hours, plan

EXPORT = DemandResponseKind.INCREASE_EXPORT
REDUCE = DemandResponseKind.REDUCE_CONSUMPTION


def event(
    kind: DemandResponseKind, first: int, last: int, mw: float | None = None, id_: int = 1
) -> DemandResponseEvent:
    return DemandResponseEvent(id_, kind, DAY_START + timedelta(hours=first), DAY_START + timedelta(hours=last), mw)


def test_reduce_consumption_cuts_charging_but_never_discharges() -> None:
    result = apply_demand_response([plan("a", [1.0, 0.6, 0.0])], hours(3), [event(REDUCE, 0, 3)])
    assert result.plans[0].planned_mw == (0.0, 0.0, 0.0)
    assert [r.delivered_mw if r else None for r in result.responses] == [1.0, 0.6, 0.0]


def test_increase_export_discharges_up_to_the_power_limit() -> None:
    result = apply_demand_response([plan("a", [0.5, 0.0], initial_soc_pct=90)], hours(2), [event(EXPORT, 0, 1)])
    assert result.plans[0].planned_mw[0] == pytest.approx(-1.0)
    assert result.responses[0] is not None and result.responses[0].delivered_mw == pytest.approx(1.5)
    assert result.responses[1] is None


def test_export_stops_at_the_minimum_soc() -> None:
    # 2 MWh at 50 % holds 0.8 MWh above the 10 % floor: two hours at 1 MW are not possible
    result = apply_demand_response([plan("a", [0.0, 0.0, 0.0])], hours(3), [event(EXPORT, 0, 3)])
    positions = result.plans[0].planned_mw
    assert positions[0] == pytest.approx(-0.8, abs=1e-5)
    assert positions[1] == 0.0 and positions[2] == 0.0
    assert sum(positions) >= -0.8


def test_a_request_is_spread_over_devices_in_id_order_and_stops_when_met() -> None:
    plans = [plan("b", [0.0]), plan("a", [0.0])]
    result = apply_demand_response(plans, hours(1), [event(EXPORT, 0, 1, mw=0.5)])
    by_id = {p.device_id: p.planned_mw[0] for p in result.plans}
    assert by_id == {"a": pytest.approx(-0.5), "b": 0.0}


def test_energy_taken_by_an_event_is_paid_back_from_later_discharges() -> None:
    # plan: hold, then sell 0.8 MWh (down to the floor) at hour 2; the event sells 0.5 in hour 0
    result = apply_demand_response([plan("a", [0.0, 0.0, -0.8])], hours(3), [event(EXPORT, 0, 1, mw=0.5)])
    assert result.plans[0].planned_mw == pytest.approx((-0.5, 0.0, -0.3), abs=1e-5)


def test_the_event_overrides_economics_in_the_bid() -> None:
    forecast = [10.0, 200.0]  # the plan charges in hour 0; the event wants export there anyway
    response = apply_demand_response([plan("a", [0.8, -0.7])], hours(2), [event(EXPORT, 0, 1, id_=7)])
    decisions = build_bids(
        plans=response.plans,
        hours=hours(2),
        forecast=forecast,
        rules=MarketRules(price_floor=-500),
        responses=response.responses,
    )
    first = decisions[0]
    assert first.action is Action.SELL and first.bid is not None
    assert first.bid.limit_price == -500  # price-taking: the event must be delivered
    assert first.reason.startswith("demand-response event 7 asks for more export")


def test_overlapping_events_prefer_export() -> None:
    events = [event(REDUCE, 0, 2, id_=1), event(EXPORT, 0, 1, id_=2)]
    result = apply_demand_response([plan("a", [0.5, 0.5])], hours(2), events)
    assert [r.event_id if r else None for r in result.responses] == [2, 1]
    assert result.plans[0].planned_mw[0] < 0 and result.plans[0].planned_mw[1] == 0.0


def test_invalid_events_are_refused() -> None:
    with pytest.raises(ValueError, match="start < end"):
        event(EXPORT, 3, 3)
    with pytest.raises(ValueError, match="requested_mw"):
        event(EXPORT, 0, 1, mw=-1)
