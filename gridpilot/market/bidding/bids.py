"""Day-ahead bids from the portfolio's positions: one per delivery hour, with the storage decision behind it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gridpilot.market.bidding.demand_response import DemandResponseKind, HourResponse
from gridpilot.market.bidding.plans import DevicePlan, portfolio_mw
from gridpilot.market.bidding.rules import MarketRules

POSITION_EPS_MW = 1e-6


class Side(StrEnum):
    """Whether the portfolio buys energy from the market or sells to it."""

    BUY = "buy"
    SELL = "sell"


class Action(StrEnum):
    """What the storage does with the hour."""

    SELL = "sell"
    """Discharge into the market."""
    STORE = "store"
    """Neither buy nor sell: keep the energy for a later, better hour."""
    CONSUME = "consume"
    """Buy from the market to charge."""


@dataclass(frozen=True, slots=True)
class Bid:
    """One hourly order: a side, a quantity and a limit price (buy: at most; sell: at least)."""

    delivery_start: datetime
    side: Side
    quantity_mw: float
    limit_price: float

    @property
    def signed_mw(self) -> float:
        """The quantity as a position: + bought, − sold."""
        return self.quantity_mw if self.side is Side.BUY else -self.quantity_mw


@dataclass(frozen=True, slots=True)
class Decision:
    """The storage decision of one hour and why it was taken."""

    delivery_start: datetime
    action: Action
    position_mw: float
    forecast_price: float
    reason: str
    bid: Bid | None
    demand_response: HourResponse | None


@dataclass(frozen=True, slots=True)
class Valuation:
    """The portfolio's opportunity value of energy over the day, from its own plan and the forecast.

    hold_value: the least a sold MWh must fetch: what the dearest planned charge cost, grossed up by the
    round-trip losses and wear. charge_value: the most a bought MWh may cost: what the cheapest planned sale
    earns, after losses and wear. Without a planned charge (or sale) the stored-energy value stands in, if given.
    """

    hold_value: float | None
    charge_value: float | None


def valuation(
    positions: Sequence[float],
    forecast: Sequence[float],
    *,
    round_trip_efficiency: float,
    wear_cost_per_mwh: float = 0.0,
    stored_value_per_mwh: float | None = None,
) -> Valuation:
    """The day's hold and charge values (see Valuation)."""
    buys = [price for mw, price in zip(positions, forecast, strict=True) if mw > POSITION_EPS_MW]
    sells = [price for mw, price in zip(positions, forecast, strict=True) if mw < -POSITION_EPS_MW]
    wear = wear_cost_per_mwh * (1.0 + round_trip_efficiency)
    hold = (max(buys) + wear) / round_trip_efficiency if buys else stored_value_per_mwh
    charge = min(sells) * round_trip_efficiency - wear if sells else stored_value_per_mwh
    return Valuation(hold_value=hold, charge_value=charge)


def sell_limit(forecast: float, value: Valuation, rules: MarketRules) -> float:
    """Slightly below the forecast so that a small miss still clears, but never below the hold value."""
    limit = forecast - rules.margin(forecast)
    if value.hold_value is not None:
        limit = max(limit, value.hold_value)
    return round(rules.clamp_price(limit), 2)


def buy_limit(forecast: float, value: Valuation, rules: MarketRules) -> float:
    """Slightly above the forecast so that a small miss still clears, but never above the charge value."""
    limit = forecast + rules.margin(forecast)
    if value.charge_value is not None:
        limit = min(limit, value.charge_value)
    return round(rules.clamp_price(limit), 2)


def build_bids(
    *,
    plans: Sequence[DevicePlan],
    hours: Sequence[datetime],
    forecast: Sequence[float],
    rules: MarketRules,
    responses: Sequence[HourResponse | None] | None = None,
    wear_cost_per_mwh: float = 0.0,
    stored_value_per_mwh: float | None = None,
) -> list[Decision]:
    """A decision for every hour, with its bid when the position is biddable.

    In an hour of a demand-response event a sale is price-taking (limit = the price floor): the event must be
    delivered whatever the price. A purchase keeps its economic limit: if it does not clear, less is consumed,
    which is what the event wants anyway.
    """
    if len(forecast) != len(hours) or (responses is not None and len(responses) != len(hours)):
        raise ValueError("forecast and demand responses need one value per delivery hour")
    if not all(math.isfinite(price) for price in forecast):
        raise ValueError("every forecast price must be finite")
    plan_list = list(plans)
    positions = [portfolio_mw(plan_list, hour) for hour in range(len(hours))]
    efficiency = min((plan.round_trip_efficiency for plan in plan_list), default=1.0)
    value = valuation(
        positions,
        forecast,
        round_trip_efficiency=efficiency,
        wear_cost_per_mwh=wear_cost_per_mwh,
        stored_value_per_mwh=stored_value_per_mwh,
    )
    decisions = []
    for hour, start in enumerate(hours):
        response = responses[hour] if responses is not None else None
        decisions.append(_decide(start, positions[hour], forecast[hour], value, rules, response))
    return decisions


def _decide(
    start: datetime,
    position: float,
    forecast: float,
    value: Valuation,
    rules: MarketRules,
    response: HourResponse | None,
) -> Decision:
    """One hour's decision and bid."""
    quantity = rules.quantity(position)
    if abs(position) <= POSITION_EPS_MW or quantity == 0:
        why = (
            f"no planned position: energy is held (forecast {forecast:.2f})"
            if abs(position) <= POSITION_EPS_MW
            else f"the position of {position:+.3f} MW is below the minimum bid of {rules.min_bid_mw:g} MW: "
            "held, not bid"
        )
        return Decision(start, Action.STORE, position, forecast, _with_event(why, response), None, response)
    capped = (
        f", capped at the portfolio capacity of {rules.portfolio_capacity_mw:g} MW"
        if abs(position) > rules.portfolio_capacity_mw
        else ""
    )
    if position < 0:
        if response is not None:
            limit = round(rules.price_floor, 2)
            why = f"sell {quantity:g} MW at any price (limit = floor {limit:g}){capped}"
        else:
            limit = sell_limit(forecast, value, rules)
            why = (
                f"forecast {forecast:.2f} is above the hold value {_text(value.hold_value)}: sell {quantity:g} MW "
                f"at no less than {limit:.2f}{capped}"
            )
        bid = Bid(start, Side.SELL, quantity, limit)
        return Decision(start, Action.SELL, position, forecast, _with_event(why, response), bid, response)
    limit = buy_limit(forecast, value, rules)
    why = (
        f"forecast {forecast:.2f} is below the charge value {_text(value.charge_value)}: buy {quantity:g} MW "
        f"at no more than {limit:.2f}{capped}"
    )
    bid = Bid(start, Side.BUY, quantity, limit)
    return Decision(start, Action.CONSUME, position, forecast, _with_event(why, response), bid, response)


def _text(value: float | None) -> str:
    return "(none: no opposite trade planned)" if value is None else f"{value:.2f}"


def _with_event(why: str, response: HourResponse | None) -> str:
    """The reason, prefixed with the demand-response event that shaped the hour."""
    if response is None:
        return why
    asked = "as much as possible" if response.requested_mw is None else f"{response.requested_mw:g} MW"
    verb = "less consumption" if response.kind is DemandResponseKind.REDUCE_CONSUMPTION else "more export"
    return (
        f"demand-response event {response.event_id} asks for {verb} ({asked}; "
        f"devices gave {response.delivered_mw:g} MW), taking precedence over price: {why}"
    )
