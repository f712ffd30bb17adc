"""Synthetic price series with known answers for the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def weekly_pattern(days: int, *, minutes: int = 60, tz: str = "UTC", start: str = "2024-01-01") -> pd.Series:
    """Prices that repeat exactly every week: a daily shape scaled by the weekday, never negative."""
    index = pd.date_range(start, periods=days * 24 * 60 // minutes, freq=f"{minutes}min", tz=tz)
    hours = index.hour + index.minute / 60
    shape = 40 + 15 * np.sin((hours - 7) / 24 * 2 * np.pi) + 8 * np.cos(hours / 12 * 2 * np.pi)
    weekday_factor = np.array([1.0, 1.05, 1.1, 1.05, 1.0, 0.8, 0.7])[index.day_of_week]
    return pd.Series(np.asarray(shape * weekday_factor, dtype=np.float64), index=index, name="price")


def noisy_walk(days: int, *, minutes: int = 60, tz: str = "UTC", seed: int = 3) -> pd.Series:
    """A weekly pattern on a drifting level with noise: something to forecast that is not trivial."""
    pattern = weekly_pattern(days, minutes=minutes, tz=tz)
    rng = np.random.default_rng(seed)
    level = np.repeat(np.cumsum(rng.normal(0, 1.5, days)), 24 * 60 // minutes)
    return pattern + level + rng.normal(0, 1.0, len(pattern))
