"""Bids and storage decisions: sides, limit prices from the forecast and the opportunity value, reasons."""

from __future__ import annotations

import pytest

from gridpilot.market.bidding import Action, MarketRules, Side, Valuation, build_bids, buy_limit, sell_limit
from gridpilot.market.bidding.bids import valuation
from tests.market.bidding.factories import hours, plan

RULES = MarketRules(min_bid_mw=0.1, increment_mw=0.1, price_floor=-500, price_cap=4000)


def test_charge_cheap_hours_and_sell_dear_ones_with_limits_around_the_forecast() -> None:
    forecast = [20.0, 100.0, 60.0]
    decisions = build_bids(plans=[plan("a", [1.0, -0.8, 0.0])], hours=hours(3), forecast=forecast, rules=RULES)
    buy, sell, hold = decisions
    assert buy.action is Action.CONSUME and buy.bid is not None and buy.bid.side is Side.BUY
    assert buy.bid.quantity_mw == 1.0
    assert buy.bid.limit_price == 21.0  # forecast + max(5 %, 1): below the charge value 100
    assert sell.action is Action.SELL and sell.bid is not None and sell.bid.side is Side.SELL
    assert sell.bid.quantity_mw == pytest.approx(0.8)
    assert sell.bid.limit_price == 95.0  # forecast − 5 %: above the hold value 20
    assert hold.action is Action.STORE and hold.bid is None
    assert "no planned position" in hold.reason
    assert "hold value 20.00" in sell.reason and "charge value 100.00" in buy.reason


def test_a_sell_limit_never_goes_below_the_hold_value() -> None:
    value = Valuation(hold_value=98.0, charge_value=None)
    assert sell_limit(100.0, value, RULES) == 98.0
    assert sell_limit(200.0, value, RULES) == 190.0


def test_a_buy_limit_never_goes_above_the_charge_value() -> None:
    value = Valuation(hold_value=None, charge_value=30.5)
    assert buy_limit(30.0, value, RULES) == 30.5
    assert buy_limit(10.0, value, RULES) == 11.0


def test_limits_are_clamped_to_floor_and_cap() -> None:
    rules = MarketRules(price_floor=-10, price_cap=50)
    nothing = Valuation(None, None)
    assert sell_limit(-20.0, nothing, rules) == -10
    assert buy_limit(80.0, nothing, rules) == 50


def test_valuation_grosses_up_by_losses_and_wear() -> None:
    value = valuation([1.0, 0.0, -1.0], [40.0, 0.0, 100.0], round_trip_efficiency=0.8, wear_cost_per_mwh=5.0)
    assert value.hold_value == pytest.approx((40 + 5 * 1.8) / 0.8)
    assert value.charge_value == pytest.approx(100 * 0.8 - 5 * 1.8)


def test_without_an_opposite_trade_the_stored_value_stands_in() -> None:
    assert valuation([-1.0], [50.0], round_trip_efficiency=0.9, stored_value_per_mwh=45.0).hold_value == 45.0
    assert valuation([-1.0], [50.0], round_trip_efficiency=0.9).hold_value is None


def test_a_position_below_the_minimum_is_stored_not_bid() -> None:
    [decision] = build_bids(plans=[plan("a", [0.05])], hours=hours(1), forecast=[50.0], rules=RULES)
    assert decision.action is Action.STORE and decision.bid is None
    assert "below the minimum bid of 0.1 MW" in decision.reason


def test_the_portfolio_is_netted_and_capped() -> None:
    plans = [plan("a", [-1.0]), plan("b", [-1.0]), plan("c", [0.4])]
    [decision] = build_bids(plans=plans, hours=hours(1), forecast=[80.0], rules=MarketRules(portfolio_capacity_mw=1.5))
    assert decision.position_mw == pytest.approx(-1.6)
    assert decision.bid is not None and decision.bid.quantity_mw == 1.5
    assert "capped at the portfolio capacity of 1.5 MW" in decision.reason


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one value per delivery hour"):
        build_bids(plans=[plan("a", [1.0, 0.0])], hours=hours(2), forecast=[1.0], rules=RULES)
