"""Market rules a day-ahead exchange imposes on bids: size, increment, price limits and the portfolio's capacity."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What the exchange accepts, and how far a limit price may sit from the forecast.

    Quantities are in MW of one hourly product; prices in the market's currency per MWh.
    """

    min_bid_mw: float = 0.1
    increment_mw: float = 0.1
    price_floor: float = -500.0
    price_cap: float = 4000.0
    portfolio_capacity_mw: float = math.inf
    limit_margin_pct: float = 5.0
    """How far below (sell) or above (buy) the forecast a limit sits, as a share of the forecast's size ..."""
    limit_margin_min: float = 1.0
    """... but at least this much, so that a forecast near zero still leaves room."""

    def __post_init__(self) -> None:
        for name in ("min_bid_mw", "increment_mw", "price_floor", "price_cap", "limit_margin_pct", "limit_margin_min"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, not {getattr(self, name)!r}")
        if self.increment_mw <= 0:
            raise ValueError(f"increment_mw must be positive, not {self.increment_mw:g}")
        if self.min_bid_mw < 0:
            raise ValueError(f"min_bid_mw must not be negative, not {self.min_bid_mw:g}")
        if self.price_floor >= self.price_cap:
            raise ValueError(f"price_floor {self.price_floor:g} must lie below price_cap {self.price_cap:g}")
        if math.isnan(self.portfolio_capacity_mw) or self.portfolio_capacity_mw <= 0:
            raise ValueError(f"portfolio_capacity_mw must be positive, not {self.portfolio_capacity_mw!r}")
        if self.limit_margin_pct < 0 or self.limit_margin_min < 0:
            raise ValueError("limit_margin_pct and limit_margin_min must not be negative")

    def quantity(self, mw: float) -> float:
        """The biddable size of a position: capped at the portfolio's capacity, rounded down to the increment,
        and 0 below the minimum bid (rounding down never promises more than the devices planned)."""
        size = min(abs(mw), self.portfolio_capacity_mw)
        steps = math.floor(size / self.increment_mw + 1e-9)
        rounded = round(steps * self.increment_mw, 9)
        return rounded if rounded >= self.min_bid_mw - 1e-9 and rounded > 0 else 0.0

    def clamp_price(self, price: float) -> float:
        """The price held within the exchange's floor and cap."""
        return min(max(price, self.price_floor), self.price_cap)

    def margin(self, forecast: float) -> float:
        """How far a limit price may sit from this forecast."""
        return max(abs(forecast) * self.limit_margin_pct / 100.0, self.limit_margin_min)
