"""A device's planned hourly positions and the battery physics that bound how they may change."""

from __future__ import annotations

import math
from dataclasses import dataclass

WATT_MW = 1e-6  # schedules carry whole watts; every changed position is rounded to them, toward zero


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """One battery's planned net power per delivery hour (MW, + charging from the grid, − discharging into it).

    The energy model is the protocol's: charging p MW for an hour stores p·η_c MWh, discharging draws p/η_d.
    A whole portfolio without device detail can be given as one plan with the summed limits.
    """

    device_id: str
    planned_mw: tuple[float, ...]
    capacity_mwh: float
    max_charge_mw: float
    max_discharge_mw: float
    initial_soc_pct: float
    min_soc_pct: float = 0.0
    max_soc_pct: float = 100.0
    charge_efficiency: float = 1.0
    discharge_efficiency: float = 1.0

    def __post_init__(self) -> None:
        numbers = (
            self.capacity_mwh,
            self.max_charge_mw,
            self.max_discharge_mw,
            self.initial_soc_pct,
            self.min_soc_pct,
            self.max_soc_pct,
            self.charge_efficiency,
            self.discharge_efficiency,
            *self.planned_mw,
        )
        if not all(math.isfinite(value) for value in numbers):
            raise ValueError(f"device {self.device_id!r}: every number of the plan must be finite")
        if self.capacity_mwh <= 0 or self.max_charge_mw < 0 or self.max_discharge_mw < 0:
            raise ValueError(f"device {self.device_id!r}: capacity must be positive and power limits not negative")
        if not (0 < self.charge_efficiency <= 1 and 0 < self.discharge_efficiency <= 1):
            raise ValueError(f"device {self.device_id!r}: efficiencies must lie in (0, 1]")
        if not 0 <= self.min_soc_pct <= self.max_soc_pct <= 100:
            raise ValueError(f"device {self.device_id!r}: SoC bounds must satisfy 0 <= min <= max <= 100")

    @property
    def min_mwh(self) -> float:
        """The lowest allowed stored energy."""
        return self.capacity_mwh * self.min_soc_pct / 100.0

    @property
    def max_mwh(self) -> float:
        """The highest allowed stored energy."""
        return self.capacity_mwh * self.max_soc_pct / 100.0

    @property
    def initial_mwh(self) -> float:
        """The energy stored when the delivery day starts."""
        return self.capacity_mwh * self.initial_soc_pct / 100.0

    @property
    def round_trip_efficiency(self) -> float:
        """The share of bought energy that can be sold again."""
        return self.charge_efficiency * self.discharge_efficiency

    def stored_change_mwh(self, mw: float) -> float:
        """How one hour at `mw` changes the stored energy."""
        return mw * self.charge_efficiency if mw > 0 else mw / self.discharge_efficiency

    def feasible_mw(self, stored_mwh: float, wanted_mw: float) -> float:
        """`wanted_mw` cut to the power limits and to what the stored energy allows in one hour, in whole watts."""
        if wanted_mw > 0:
            room = max(0.0, (self.max_mwh - stored_mwh) / self.charge_efficiency)
            bound = min(wanted_mw, self.max_charge_mw, room)
        else:
            room = max(0.0, (stored_mwh - self.min_mwh) * self.discharge_efficiency)
            bound = min(-wanted_mw, self.max_discharge_mw, room)
        whole = math.floor(bound / WATT_MW + 1e-6) * WATT_MW
        if bound >= room - 1e-12 and whole > 0:  # at an energy bound: one watt of slack for the validator's SoC check
            whole = max(0.0, whole - WATT_MW)
        whole = round(whole, 6)
        if whole == 0:
            return 0.0
        return whole if wanted_mw > 0 else -whole


def portfolio_mw(plans: list[DevicePlan], hour: int) -> float:
    """The portfolio's net position in one hour."""
    return math.fsum(plan.planned_mw[hour] for plan in plans)
