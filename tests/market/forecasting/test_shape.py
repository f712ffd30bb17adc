"""Planning rules on a day's forecast: stretching and correcting its shape from the errors of earlier days."""

from __future__ import annotations

import numpy as np
import pytest

from gridpilot.market.forecasting.shape import PlanningRule, day_shape, shape_error, stretch_day_shape


def test_a_days_shape_is_its_distance_from_its_mean() -> None:
    np.testing.assert_allclose(day_shape(np.array([10.0, 20.0, 60.0])), [-20.0, -10.0, 30.0])


def test_stretching_a_day_scales_its_deviations_and_keeps_its_mean() -> None:
    day = np.array([10.0, 20.0, 30.0, 60.0])

    stretched = stretch_day_shape(day, 1.5)

    assert stretched.mean() == pytest.approx(day.mean())
    np.testing.assert_allclose(day_shape(stretched), 1.5 * day_shape(day))
    assert stretch_day_shape(day, 1.0) is day
    np.testing.assert_allclose(stretch_day_shape(day, 0.0), np.full(4, 30.0))


@pytest.mark.parametrize("scale", [-0.5, float("nan"), float("inf")])
def test_a_negative_or_non_finite_shape_scale_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="shape scale"):
        stretch_day_shape(np.array([1.0, 2.0]), scale)
    with pytest.raises(ValueError, match="shape scale"):
        PlanningRule(shape_scale=scale)


def test_negative_correction_days_are_refused() -> None:
    with pytest.raises(ValueError, match="correction_days"):
        PlanningRule(correction_days=-1)


def test_the_shape_error_ignores_the_level() -> None:
    actual = np.array([30.0, 50.0, 40.0])

    np.testing.assert_allclose(shape_error(actual, actual + 7.0), np.zeros(3), atol=1e-12)
    np.testing.assert_allclose(shape_error(actual, np.full(3, 40.0)), [-10.0, 10.0, 0.0])


def test_the_default_rule_plans_on_the_forecast_as_it_is() -> None:
    forecast = np.array([1.0, 5.0, 3.0])

    assert PlanningRule().plan_prices(forecast, [np.ones(3)]) is forecast


def test_the_correction_is_the_mean_error_of_the_most_recent_days() -> None:
    rule = PlanningRule(correction_days=2)
    errors = [np.array([9.0, -9.0]), np.array([1.0, -1.0]), np.array([3.0, -3.0])]

    planned = rule.plan_prices(np.array([40.0, 40.0]), errors)

    np.testing.assert_allclose(planned, [42.0, 38.0])  # the oldest day is past the window


def test_too_few_known_days_or_other_period_counts_give_no_correction() -> None:
    rule = PlanningRule(correction_days=8)  # needs 2 days
    forecast = np.array([40.0, 40.0])

    np.testing.assert_allclose(rule.plan_prices(forecast, [np.array([1.0, -1.0])]), forecast)
    np.testing.assert_allclose(rule.plan_prices(forecast, [np.array([1.0, -1.0]), np.zeros(3)]), forecast)
    np.testing.assert_allclose(rule.plan_prices(forecast, [np.array([1.0, -1.0])] * 2), [41.0, 39.0])


def test_correction_comes_before_the_stretch() -> None:
    rule = PlanningRule(shape_scale=2.0, correction_days=1)

    planned = rule.plan_prices(np.array([40.0, 42.0]), [np.array([1.0, -1.0])])

    np.testing.assert_allclose(planned, [41.0, 41.0])  # corrected to flat at 41, and flat stays flat
