"""From a day's price forecast to the prices a battery plan is made on: correct and stretch the day's shape.

A battery earns from the day's shape (which periods are cheap and dear, and by how much), hardly from its
level. Two rules, each chosen on a validation period before the days it is used on: add the shape error the
forecast made on recent days (its hourly profile drifts with the seasons faster than the models adapt), and
stretch the day around its mean (forecasts fitted to a mean error are flatter than the prices).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def day_shape(day_prices: FloatArray) -> FloatArray:
    """Each period's distance from the day's mean."""
    return np.asarray(day_prices - day_prices.mean(), dtype=np.float64)


def stretch_day_shape(day_forecast: FloatArray, scale: float) -> FloatArray:
    """One day's forecast with its deviations from the day's mean multiplied by `scale` (1: unchanged)."""
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"a shape scale must be a finite number >= 0, not {scale!r}")
    if scale == 1.0:
        return day_forecast
    mean = float(day_forecast.mean())
    return np.asarray(mean + scale * (day_forecast - mean), dtype=np.float64)


def shape_error(day_actual: FloatArray, day_forecast: FloatArray) -> FloatArray:
    """What the forecast got wrong about one day's shape: actual shape minus forecast shape."""
    return day_shape(day_actual) - day_shape(day_forecast)


@dataclass(frozen=True)
class PlanningRule:
    """How a day's forecast becomes the prices to plan on; the default plans on the forecast as it is.

    `correction_days` > 0 adds the mean shape error of up to that many most recent days (at least a quarter
    of them must be known); `shape_scale` then stretches the day around its mean.
    """

    shape_scale: float = 1.0
    correction_days: int = 0

    def __post_init__(self) -> None:
        stretch_day_shape(np.zeros(1), self.shape_scale)
        if self.correction_days < 0:
            raise ValueError(f"correction_days must not be negative, not {self.correction_days}")

    @property
    def min_known_days(self) -> int:
        """The fewest recent days whose mean shape error is trusted as a correction."""
        return max(1, self.correction_days // 4)

    def correction(self, recent_errors: Sequence[FloatArray], periods: int) -> FloatArray:
        """The mean of the last `correction_days` shape errors of `periods` periods (zeros if too few)."""
        if not self.correction_days:
            return np.zeros(periods)
        usable = [error for error in recent_errors[-self.correction_days :] if len(error) == periods]
        if len(usable) < self.min_known_days:
            return np.zeros(periods)
        return np.asarray(np.mean(usable, axis=0), dtype=np.float64)

    def plan_prices(self, day_forecast: FloatArray, recent_errors: Sequence[FloatArray] = ()) -> FloatArray:
        """The prices to plan `day_forecast`'s day on, given the shape errors of the days before it, oldest first."""
        if not self.correction_days:
            return stretch_day_shape(day_forecast, self.shape_scale)
        corrected = day_forecast + self.correction(recent_errors, len(day_forecast))
        return stretch_day_shape(np.asarray(corrected, dtype=np.float64), self.shape_scale)


PLAN_ON_FORECAST = PlanningRule()
"""The rule that plans on the forecast exactly as it is."""
