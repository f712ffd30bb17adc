"""The variance-stabilizing transform of LEAR: asinh of prices standardized by median and MAD.

Price spikes and negative prices make least squares unstable; asinh compresses the tails like a log
while staying defined for any sign (Uniejewski, Weron & Ziel 2018; the "invariant" scaler of epftoolbox).
"""

from __future__ import annotations

from typing import Self

import numpy as np
from scipy.stats import median_abs_deviation


class AsinhScaler:
    """Per-column median/MAD standardization followed by asinh; invertible exactly."""

    def __init__(self, median: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.median = median
        self.scale = scale

    def fit(self, data: np.ndarray) -> Self:
        """Learn each column's median and normal-consistent MAD (a constant column gets scale 1)."""
        self.median = np.median(data, axis=0)
        mad = np.asarray(median_abs_deviation(data, axis=0, scale="normal"), dtype=np.float64)
        self.scale = np.where(mad > 0, mad, 1.0)
        return self

    def transform(self, data: np.ndarray) -> np.ndarray:
        """asinh((x - median) / MAD), column by column."""
        median, scale = self.parameters()
        return np.asarray(np.arcsinh((data - median) / scale), dtype=np.float64)

    def inverse_transform(self, data: np.ndarray) -> np.ndarray:
        """Back to prices: sinh(z) * MAD + median."""
        median, scale = self.parameters()
        return np.asarray(np.sinh(data) * scale + median, dtype=np.float64)

    def parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted medians and scales (what `save` stores), refusing an unfitted scaler."""
        if self.median is None or self.scale is None:
            raise RuntimeError("the scaler is not fitted")
        return self.median, self.scale
