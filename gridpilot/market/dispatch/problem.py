"""One battery's dispatch question: its prices per step, where its SoC starts and where it should end."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gridpilot.market.dispatch.battery import Battery, FloatArray, Site


@dataclass(frozen=True, slots=True, eq=False)
class DispatchProblem:
    """Prices in currency per MWh, one per step of step_minutes (60, 30, 15 or any other length).

    The end of the horizon is either a target SoC (final_soc_pct) or free with a value per MWh of the
    energy left in the cells (terminal_value_per_mwh); with neither, the battery ends where it started.
    With a site, prices are what imported energy costs and site.export_price_per_mwh what exported earns.
    """

    battery: Battery
    prices_per_mwh: FloatArray
    step_minutes: float
    initial_soc_pct: float
    final_soc_pct: float | None = None
    terminal_value_per_mwh: float | None = None
    site: Site | None = None

    def __post_init__(self) -> None:
        prices = np.asarray(self.prices_per_mwh, dtype=np.float64)
        if prices.ndim != 1 or prices.size == 0 or not np.all(np.isfinite(prices)):
            raise ValueError("prices_per_mwh must be a non-empty one-dimensional array of finite numbers")
        object.__setattr__(self, "prices_per_mwh", prices)
        if not (math.isfinite(self.step_minutes) and self.step_minutes > 0):
            raise ValueError(f"step_minutes must be a positive number, not {self.step_minutes!r}")
        if not math.isfinite(self.initial_soc_pct):
            raise ValueError(f"initial_soc_pct must be a finite number, not {self.initial_soc_pct!r}")
        if self.final_soc_pct is not None and self.terminal_value_per_mwh is not None:
            raise ValueError("give either final_soc_pct or terminal_value_per_mwh, not both")
        for name in ("final_soc_pct", "terminal_value_per_mwh"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
        if self.site is not None:
            for name in ("load_kw", "pv_kw", "export_price_per_mwh"):
                if getattr(self.site, name).size != prices.size:
                    raise ValueError(f"site.{name} has {getattr(self.site, name).size} steps, the prices {prices.size}")

    @property
    def steps(self) -> int:
        """The number of steps in the horizon."""
        return int(self.prices_per_mwh.size)

    @property
    def step_hours(self) -> float:
        """The length of one step in hours."""
        return self.step_minutes / 60.0
