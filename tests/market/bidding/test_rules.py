"""Market rules: quantities rounded down to the increment, minimum size, capacity, floor and cap."""

from __future__ import annotations

import math

import pytest

from gridpilot.market.bidding import MarketRules


@pytest.mark.parametrize(
    ("position", "expected"),
    [(0.0, 0.0), (0.09, 0.0), (0.1, 0.1), (0.19, 0.1), (-0.57, 0.5), (2.999999, 2.9), (3.0, 3.0), (0.3, 0.3)],
)
def test_quantity_rounds_down_to_the_increment_and_drops_below_the_minimum(position: float, expected: float) -> None:
    assert MarketRules(min_bid_mw=0.1, increment_mw=0.1).quantity(position) == pytest.approx(expected)


def test_a_minimum_above_the_increment_drops_small_positions() -> None:
    rules = MarketRules(min_bid_mw=1.0, increment_mw=0.25)
    assert rules.quantity(0.99) == 0.0
    assert rules.quantity(1.3) == 1.25


def test_quantity_is_capped_at_the_portfolio_capacity() -> None:
    assert MarketRules(portfolio_capacity_mw=2.5).quantity(-7.3) == 2.5


def test_prices_are_clamped_to_floor_and_cap() -> None:
    rules = MarketRules(price_floor=-500, price_cap=4000)
    assert rules.clamp_price(-900) == -500
    assert rules.clamp_price(5000) == 4000
    assert rules.clamp_price(42.5) == 42.5


def test_margin_is_a_share_of_the_forecast_with_a_minimum() -> None:
    rules = MarketRules(limit_margin_pct=5, limit_margin_min=1)
    assert rules.margin(100) == 5
    assert rules.margin(-100) == 5
    assert rules.margin(4) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"increment_mw": 0},
        {"min_bid_mw": -1},
        {"price_floor": 10, "price_cap": 10},
        {"portfolio_capacity_mw": 0},
        {"price_cap": math.nan},
        {"limit_margin_pct": -1},
    ],
)
def test_invalid_rules_are_refused_with_the_field_named(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields)).split("_")[0]):
        MarketRules(**fields)  # type: ignore[arg-type]
