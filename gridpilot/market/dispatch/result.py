"""What the optimizer returns: power and SoC per step, the objective, and how it got there."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridpilot.market.dispatch.battery import FloatArray


class Method(StrEnum):
    """How the plan was found; every method gives a proven optimum except IDLE."""

    LP = "lp"
    """The LP optimum had no step that both charges and discharges."""
    LP_FIXUP = "lp+fixup"
    """Some steps did both; netting them kept the SoC path and did not raise the cost, so it is still optimal."""
    BRANCH_AND_BOUND = "branch-and-bound"
    """A battery alone where netting would have cost money (negative prices): branch and bound on a hull LP."""
    MILP = "milp"
    """Netting would have cost money (negative prices) at a site, or branching gave up: a MILP with binaries."""
    IDLE = "idle"
    """The solver gave no optimum: the battery is left idle (see the warnings)."""


@dataclass(frozen=True, slots=True, eq=False)
class Dispatch:
    """The plan for one battery: AC power per step (never both directions in one step) and the SoC path."""

    charge_kw: FloatArray
    discharge_kw: FloatArray
    soc_pct: FloatArray
    """SoC at the start of the horizon and after every step (steps + 1 values)."""
    grid_import_kw: FloatArray | None
    grid_export_kw: FloatArray | None
    objective: float
    """Cost in currency over the horizon (negative: earnings), with degradation, less the terminal value."""
    status: str
    method: Method
    step_minutes: float
    warnings: tuple[str, ...]

    @property
    def net_kw(self) -> FloatArray:
        """Power drawn from the grid by the battery per step (negative: fed into it)."""
        return self.charge_kw - self.discharge_kw

    @property
    def ok(self) -> bool:
        """True when the plan is optimal for the problem as given, without any repair."""
        return self.method is not Method.IDLE and not self.warnings
