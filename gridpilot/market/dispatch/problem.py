"""One battery's dispatch question: its prices per step, where its SoC starts and where it should end."""

from __future__ import annotations

from dataclasses import dataclass

from gridpilot.market.dispatch.battery import Battery, FloatArray, Site
from gridpilot.market.dispatch.inputs import (
    MAX_PRICE_PER_MWH,
    MAX_SOC_PCT,
    MAX_STEP_MINUTES,
    MIN_STEP_MINUTES,
    number,
    number_array,
)


@dataclass(frozen=True, slots=True, eq=False)
class DispatchProblem:
    """Prices in currency per MWh, one per step of step_minutes (60, 30, 15 or any other length).

    The end of the horizon is either a target SoC (final_soc_pct) or free with a value per MWh of the
    energy left in the cells (terminal_value_per_mwh); with neither, the battery ends where it started.
    With a site, prices are what imported energy costs and site.export_price_per_mwh what exported earns.
    A step lasts from one second to a week; prices and values lie within ±inputs.MAX_PRICE_PER_MWH; SoCs
    within ±inputs.MAX_SOC_PCT (outside the battery's range they are repaired with a warning, see bounds).
    """

    battery: Battery
    prices_per_mwh: FloatArray
    step_minutes: float
    initial_soc_pct: float
    final_soc_pct: float | None = None
    terminal_value_per_mwh: float | None = None
    site: Site | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.battery, Battery):
            raise ValueError(f"battery must be a Battery, not {self.battery!r}")
        if self.site is not None and not isinstance(self.site, Site):
            raise ValueError(f"site must be a Site or None, not {self.site!r}")
        prices = number_array(
            "prices_per_mwh",
            self.prices_per_mwh,
            low=-MAX_PRICE_PER_MWH,
            high=MAX_PRICE_PER_MWH,
            unit="per MWh",
            non_empty=True,
        )
        object.__setattr__(self, "prices_per_mwh", prices)
        step = number("step_minutes", self.step_minutes)
        if not MIN_STEP_MINUTES <= step <= MAX_STEP_MINUTES:
            raise ValueError(
                f"step_minutes must be from {MIN_STEP_MINUTES * 60:g} second to {MAX_STEP_MINUTES:g} minutes "
                f"(a week), not {step:g}"
            )
        object.__setattr__(self, "step_minutes", step)
        initial = number("initial_soc_pct", self.initial_soc_pct, low=-MAX_SOC_PCT, high=MAX_SOC_PCT, unit="%")
        object.__setattr__(self, "initial_soc_pct", initial)
        if self.final_soc_pct is not None and self.terminal_value_per_mwh is not None:
            raise ValueError("give either final_soc_pct or terminal_value_per_mwh, not both")
        if self.final_soc_pct is not None:
            final = number("final_soc_pct", self.final_soc_pct, low=-MAX_SOC_PCT, high=MAX_SOC_PCT, unit="%")
            object.__setattr__(self, "final_soc_pct", final)
        if self.terminal_value_per_mwh is not None:
            value = number(
                "terminal_value_per_mwh",
                self.terminal_value_per_mwh,
                low=-MAX_PRICE_PER_MWH,
                high=MAX_PRICE_PER_MWH,
                unit="per MWh",
            )
            object.__setattr__(self, "terminal_value_per_mwh", value)
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
