"""The asinh transform of LEAR is exactly invertible and centres each column on its median."""

from __future__ import annotations

import numpy as np

from gridpilot.market.forecasting.transforms import AsinhScaler


def test_round_trip_recovers_prices_including_spikes_and_negatives() -> None:
    rng = np.random.default_rng(1)
    prices = np.column_stack([rng.normal(40, 10, 200), rng.standard_cauchy(200) * 30])
    prices[5, 0], prices[6, 1] = -150.0, 3000.0
    scaler = AsinhScaler().fit(prices)
    assert np.allclose(scaler.inverse_transform(scaler.transform(prices)), prices, rtol=1e-12, atol=1e-9)


def test_median_maps_to_zero_and_spikes_are_compressed() -> None:
    column = np.array([[10.0], [20.0], [30.0], [40.0], [1000.0]])
    scaled = AsinhScaler().fit(column).transform(column)
    assert scaled[2, 0] == 0.0
    assert scaled[4, 0] < 5  # a 30-MAD spike becomes about asinh(66) ≈ 4.9


def test_a_constant_column_keeps_scale_one() -> None:
    scaler = AsinhScaler().fit(np.full((10, 1), 7.0))
    assert scaler.scale is not None and scaler.scale[0] == 1.0
    assert scaler.transform(np.array([[8.0]]))[0, 0] == np.arcsinh(1.0)
