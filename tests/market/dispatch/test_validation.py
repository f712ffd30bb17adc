"""Bad optimizer inputs are refused at construction with a ValueError that names the field, never a TypeError."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gridpilot.market.dispatch import Battery, Dispatch, DispatchProblem, Method, Site, optimize, to_schedule
from gridpilot.market.dispatch.inputs import MAX_KW, MAX_PRICE_PER_MWH

BATTERY = {"capacity_kwh": 2000.0, "max_charge_kw": 1000.0, "max_discharge_kw": 1000.0}
PRICES = np.array([50.0, 20.0, 80.0, 30.0])
START = datetime(2026, 12, 6, tzinfo=UTC)


def problem(**change: object) -> DispatchProblem:
    fields: dict[str, object] = {
        "battery": Battery(**BATTERY),
        "prices_per_mwh": PRICES,
        "step_minutes": 60,
        "initial_soc_pct": 50,
    }
    return DispatchProblem(**(fields | change))  # type: ignore[arg-type]


def site(**change: object) -> Site:
    fields: dict[str, object] = {"load_kw": np.full(4, 3.0), "pv_kw": np.zeros(4), "export_price_per_mwh": PRICES}
    return Site(**(fields | change))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["2000", None, True, np.array([1.0, 2.0]), 1 + 2j, [2000.0]])
@pytest.mark.parametrize("name", ["capacity_kwh", "max_charge_kw", "charge_efficiency", "degradation_cost_per_mwh"])
def test_a_battery_field_of_the_wrong_type_is_named(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a finite number, not "):
        Battery(**(BATTERY | {name: value}))  # type: ignore[arg-type]


def test_the_message_shows_the_value_given() -> None:
    with pytest.raises(ValueError, match=r"^capacity_kwh must be a finite number, not '2000'$"):
        Battery(**(BATTERY | {"capacity_kwh": "2000"}))  # type: ignore[arg-type]


def test_numpy_scalars_and_ints_are_numbers() -> None:
    battery = Battery(np.float64(10.0), np.int64(5), 5, np.float32(0.5), 1)  # type: ignore[arg-type]
    assert battery.capacity_kwh == 10.0 and type(battery.capacity_kwh) is float
    assert optimize(problem(battery=battery, step_minutes=np.int64(60), initial_soc_pct=np.float64(50))).status


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("initial_soc_pct", None),
        ("initial_soc_pct", "50"),
        ("step_minutes", "60"),
        ("step_minutes", False),
        ("final_soc_pct", "80"),
        ("terminal_value_per_mwh", True),
    ],
)
def test_a_problem_field_of_the_wrong_type_is_named(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a finite number, not "):
        problem(**{name: value})


@pytest.mark.parametrize("prices", [["a", "b"], ["1", "2", "3"], [1.0, None], [True, False], [[1.0], [2.0, 3.0]]])
def test_prices_must_be_numbers(prices: object) -> None:
    with pytest.raises(ValueError, match=r"^prices_per_mwh must be a non-empty one-dimensional array of finite"):
        problem(prices_per_mwh=prices)


@pytest.mark.parametrize("name", ["load_kw", "pv_kw", "export_price_per_mwh"])
def test_site_arrays_must_be_numbers(name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a one-dimensional array of finite numbers, not of text"):
        site(**{name: ["1", "2", "3", "4"]})
    with pytest.raises(ValueError, match=r"^grid_limit_kw must be a finite number"):
        site(grid_limit_kw="5")


def test_a_battery_and_a_site_must_be_what_they_say() -> None:
    with pytest.raises(ValueError, match=r"^battery must be a Battery"):
        problem(battery=BATTERY)
    with pytest.raises(ValueError, match=r"^site must be a Site"):
        problem(site={"load_kw": [1.0]})


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"capacity_kwh": 1e300}, "capacity_kwh"),
        ({"capacity_kwh": 1e25, "max_charge_kw": 1e25, "max_discharge_kw": 1e25}, "capacity_kwh"),
        ({"max_charge_kw": 2 * MAX_KW}, "max_charge_kw"),
        ({"max_discharge_kw": 1e300}, "max_discharge_kw"),
        ({"degradation_cost_per_mwh": 1e300}, "degradation_cost_per_mwh"),
    ],
)
def test_implausibly_large_batteries_are_refused_naming_the_field(change: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be at most"):
        Battery(**(BATTERY | change))


def test_the_largest_plausible_battery_is_still_planned() -> None:
    huge = Battery(MAX_KW, MAX_KW, MAX_KW, degradation_cost_per_mwh=MAX_PRICE_PER_MWH / 2)
    dispatch = optimize(problem(battery=huge, prices_per_mwh=PRICES * 1e4))
    assert dispatch.status == "Optimal" and dispatch.method is not Method.IDLE


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"load_kw": np.full(4, 1e300)}, "load_kw"),
        ({"pv_kw": np.full(4, 2e9)}, "pv_kw"),
        ({"export_price_per_mwh": np.full(4, 1e300)}, "export_price_per_mwh"),
        ({"export_price_per_mwh": np.full(4, -2e6)}, "export_price_per_mwh"),
        ({"grid_limit_kw": 1e300}, "grid_limit_kw"),
    ],
)
def test_implausibly_large_site_values_are_refused_naming_the_field(change: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be within"):
        site(**change)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"prices_per_mwh": np.array([1.0, 1e300])}, "prices_per_mwh"),
        ({"prices_per_mwh": np.array([-1e25, 1.0])}, "prices_per_mwh"),
        ({"initial_soc_pct": 1e300}, "initial_soc_pct"),
        ({"initial_soc_pct": -1001}, "initial_soc_pct"),
        ({"final_soc_pct": -1e300}, "final_soc_pct"),
        ({"terminal_value_per_mwh": 1e300}, "terminal_value_per_mwh"),
    ],
)
def test_implausibly_large_problem_values_are_refused_naming_the_field(change: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be within"):
        problem(**change)


def test_a_soc_a_little_outside_the_range_is_still_repaired_with_a_warning() -> None:
    for initial in (-50.0, 0.0, 100.0, 150.0):
        dispatch = optimize(
            problem(battery=Battery(**BATTERY, min_soc_pct=10, max_soc_pct=90), initial_soc_pct=initial)
        )
        assert dispatch.status == "Optimal" and dispatch.warnings


@pytest.mark.parametrize("minutes", [1e-300, 0.5 / 60, 0, -15, 1e300, 8 * 24 * 60])
def test_a_step_shorter_than_a_second_or_longer_than_a_week_is_refused(minutes: float) -> None:
    with pytest.raises(ValueError, match=r"^step_minutes must be from 1 second to 10080 minutes"):
        problem(step_minutes=minutes)


def test_a_one_second_step_gives_one_second_intervals() -> None:
    dispatch = optimize(problem(step_minutes=1 / 60, initial_soc_pct=10))
    schedule = to_schedule(dispatch, battery=Battery(**BATTERY), device_id="b", start=START)
    assert schedule is not None and all((i.end - i.start).total_seconds() >= 1 for i in schedule.intervals)


def test_to_schedule_refuses_a_step_under_a_second_and_a_start_too_late() -> None:
    dispatch = optimize(problem())
    tiny = Dispatch(
        dispatch.charge_kw,
        dispatch.discharge_kw,
        dispatch.soc_pct,
        None,
        None,
        dispatch.objective,
        dispatch.status,
        dispatch.method,
        1e-300,
        (),
    )
    with pytest.raises(ValueError, match=r"^step_minutes must be at least one second"):
        to_schedule(tiny, battery=Battery(**BATTERY), device_id="b", start=START)
    with pytest.raises(ValueError, match="too late"):
        to_schedule(dispatch, battery=Battery(**BATTERY), device_id="b", start=datetime(9999, 12, 31, 22, tzinfo=UTC))
