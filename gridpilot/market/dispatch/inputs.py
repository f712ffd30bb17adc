"""The optimizer's input checks: numbers of the right type and of a magnitude some real battery could have.

The limits sit far above any real battery, site or market (the largest batteries store a few GWh, prices
spike to a few thousand per MWh) and far below what makes HiGHS treat a bound or a cost as infinite
(1e20): beyond them a value is a unit or typing mistake, and the solver would only give up on it.
"""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAX_KW = 1e9
"""The largest power (kW) or energy (kWh) accepted: a terawatt(-hour), a thousand times the largest plant."""
MAX_PRICE_PER_MWH = 1e6
"""The largest price, cost or value per MWh accepted in either direction."""
MAX_SOC_PCT = 1000.0
"""How far outside 0..100 a SoC may be given: small excursions are repaired with a warning, beyond this is an error."""
MIN_STEP_MINUTES = 1 / 60
"""The shortest step: one second (schedules are exchanged with whole seconds in mind)."""
MAX_STEP_MINUTES = 7 * 24 * 60.0
"""The longest step: a week."""

_KINDS = {
    "U": "text",
    "S": "bytes",
    "O": "Python objects",
    "b": "booleans",
    "c": "complex numbers",
    "M": "dates",
    "m": "durations",
    "V": "raw records",
}


def number(name: str, value: object, *, low: float = -np.inf, high: float = np.inf, unit: str = "") -> float:
    """value as a float when it is a finite real number (not a bool) within [low, high]; else a ValueError."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    result = float(value)
    if not np.isfinite(result):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if not low <= result <= high:
        raise ValueError(f"{name} must be {_span(low, high, unit)}, not {result:g}")
    return result


def number_array(
    name: str, value: object, *, low: float, high: float, unit: str = "", non_empty: bool = False
) -> FloatArray:
    """value as a one-dimensional float array of finite numbers within [low, high]; else a ValueError naming it."""
    shape = "a non-empty one-dimensional array" if non_empty else "a one-dimensional array"
    wanted = f"{name} must be {shape} of finite numbers"
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested sequences
        raise ValueError(f"{wanted}, not {value!r}") from None
    if raw.dtype.kind == "O" and raw.ndim == 0:
        raise ValueError(f"{wanted}, not {value!r}")
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{wanted}, not of {_KINDS.get(raw.dtype.kind, str(raw.dtype))}")
    array = raw.astype(np.float64)
    if array.ndim != 1 or (non_empty and array.size == 0) or not np.all(np.isfinite(array)):
        raise ValueError(wanted)
    outside = np.flatnonzero((array < low) | (array > high))
    if outside.size:
        step = int(outside[0])
        raise ValueError(f"{name} must be {_span(low, high, unit)}, not {array[step]:g} (step {step})")
    return array


def _span(low: float, high: float, unit: str) -> str:
    suffix = unit if unit in ("", "%") else f" {unit}"
    if np.isinf(low):
        return f"at most {high:g}{suffix}"
    if np.isinf(high):
        return f"at least {low:g}{suffix}"
    if low == -high:
        return f"within ±{high:g}{suffix}"
    return f"within {low:g}..{high:g}{suffix}"
