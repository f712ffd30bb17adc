"""LEAR's internals: the shared-Gram LASSO equals sklearn's LassoLarsIC, and windows are cut to the history."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoLarsIC

from gridpilot.market.forecasting import InsufficientHistoryError
from gridpilot.market.forecasting.daily import before_day
from gridpilot.market.forecasting.lear import LearModel, fit_period_lassos
from tests.market.forecasting.synthetic import noisy_walk


@pytest.mark.parametrize("samples", [40, 300])
def test_period_lassos_equal_lassolarsic_with_aic(samples: int) -> None:
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=(samples, 60))
    targets = inputs[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(scale=0.5, size=(samples, 4))
    coef, intercept = fit_period_lassos(inputs, targets)
    for period in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reference = LassoLarsIC(criterion="aic", noise_variance=np.var(targets[:, period]), max_iter=2500)
            reference.fit(inputs, targets[:, period])
        assert np.allclose(coef[period], reference.coef_, atol=1e-9)
        assert intercept[period] == pytest.approx(reference.intercept_, abs=1e-9)


def test_windows_longer_than_the_history_collapse_into_one() -> None:
    prices = noisy_walk(120)
    model = LearModel(windows=(56, 84, 1092, 1456))
    model.fit(before_day(prices, date(2024, 4, 20)))  # 110 days before it, the first 7 without every lag
    assert [calibration.window for calibration in model.calibrations] == [56, 84, 103]


def test_too_little_history_is_refused() -> None:
    with pytest.raises(InsufficientHistoryError, match="complete days"):
        LearModel().fit(noisy_walk(30))
    with pytest.raises(ValueError, match="at least 28 days"):
        LearModel(windows=(14,))
