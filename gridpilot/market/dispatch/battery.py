"""What the optimizer plans for: a battery's physics and, optionally, the site behind its meter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridpilot.market.dispatch.inputs import MAX_KW, MAX_PRICE_PER_MWH, FloatArray, number, number_array
from gridpilot.protocol import BatteryLimits

__all__ = ["Battery", "FloatArray", "Site"]


@dataclass(frozen=True, slots=True)
class Battery:
    """Power at the AC terminals (kW), energy in the cells (kWh), costs in currency per MWh like market prices.

    Charging stores rate × hours × charge_efficiency; discharging draws rate × hours / discharge_efficiency,
    the same model as gridpilot.protocol, so that the validator agrees with the plan. Degradation is charged
    on the AC energy through the terminals in either direction. Every field is a real number (not a bool);
    capacity and powers are at most inputs.MAX_KW, the degradation cost at most inputs.MAX_PRICE_PER_MWH.
    """

    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    charge_efficiency: float = 1.0
    discharge_efficiency: float = 1.0
    min_soc_pct: float = 0.0
    max_soc_pct: float = 100.0
    degradation_cost_per_mwh: float = 0.0

    def __post_init__(self) -> None:
        for name, high, unit in (
            ("capacity_kwh", MAX_KW, "kWh"),
            ("max_charge_kw", MAX_KW, "kW"),
            ("max_discharge_kw", MAX_KW, "kW"),
            ("charge_efficiency", np.inf, ""),
            ("discharge_efficiency", np.inf, ""),
            ("min_soc_pct", np.inf, "%"),
            ("max_soc_pct", np.inf, "%"),
            ("degradation_cost_per_mwh", MAX_PRICE_PER_MWH, "per MWh"),
        ):
            object.__setattr__(self, name, number(name, getattr(self, name), low=-np.inf, high=high, unit=unit))
        if self.capacity_kwh <= 0:
            raise ValueError(f"capacity_kwh must be positive, not {self.capacity_kwh:g}")
        if self.max_charge_kw < 0 or self.max_discharge_kw < 0:
            raise ValueError("max_charge_kw and max_discharge_kw must not be negative")
        if not (0 < self.charge_efficiency <= 1 and 0 < self.discharge_efficiency <= 1):
            raise ValueError("charge_efficiency and discharge_efficiency must lie in (0, 1]")
        if not 0 <= self.min_soc_pct <= self.max_soc_pct <= 100:
            raise ValueError(
                f"SoC bounds must satisfy 0 <= min <= max <= 100, not {self.min_soc_pct:g}..{self.max_soc_pct:g}"
            )
        if self.degradation_cost_per_mwh < 0:
            raise ValueError("degradation_cost_per_mwh must not be negative")

    @property
    def round_trip_efficiency(self) -> float:
        """The share of charged AC energy that comes back out."""
        return self.charge_efficiency * self.discharge_efficiency

    @property
    def min_kwh(self) -> float:
        """The lowest allowed stored energy."""
        return self.capacity_kwh * self.min_soc_pct / 100.0

    @property
    def max_kwh(self) -> float:
        """The highest allowed stored energy."""
        return self.capacity_kwh * self.max_soc_pct / 100.0

    def limits(self) -> BatteryLimits:
        """The limits the fleet validator and the agent check a schedule against."""
        return BatteryLimits(
            capacity_kwh=self.capacity_kwh,
            max_charge_kw=self.max_charge_kw,
            max_discharge_kw=self.max_discharge_kw,
            min_soc_pct=self.min_soc_pct,
            max_soc_pct=self.max_soc_pct,
            charge_efficiency=self.charge_efficiency,
            discharge_efficiency=self.discharge_efficiency,
        )


@dataclass(frozen=True, slots=True, eq=False)
class Site:
    """Load and PV behind the battery's meter: the optimizer then minimizes the site's bill, not the battery's.

    Load, PV and the grid limit lie within 0..inputs.MAX_KW, export prices within ±inputs.MAX_PRICE_PER_MWH.
    """

    load_kw: FloatArray
    pv_kw: FloatArray
    export_price_per_mwh: FloatArray
    grid_limit_kw: float | None = None

    def __post_init__(self) -> None:
        for name, low, high, unit in (
            ("load_kw", 0.0, MAX_KW, "kW"),
            ("pv_kw", 0.0, MAX_KW, "kW"),
            ("export_price_per_mwh", -MAX_PRICE_PER_MWH, MAX_PRICE_PER_MWH, "per MWh"),
        ):
            object.__setattr__(self, name, number_array(name, getattr(self, name), low=low, high=high, unit=unit))
        if self.grid_limit_kw is not None:
            limit = number("grid_limit_kw", self.grid_limit_kw, low=0.0, high=MAX_KW, unit="kW")
            object.__setattr__(self, "grid_limit_kw", limit)
