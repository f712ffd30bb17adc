"""Reusing one HiGHS model per structure changes nothing in the answers; a process pool neither."""

from __future__ import annotations

import numpy as np
import pytest

from gridpilot.market.dispatch import Battery, DispatchProblem, Solver, optimize, optimize_many


def fleet(count: int, steps: int = 24, seed: int = 0) -> list[DispatchProblem]:
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(count):
        capacity = float(rng.uniform(5, 3000))
        battery = Battery(
            capacity,
            capacity * rng.uniform(0.2, 1),
            capacity * rng.uniform(0.2, 1),
            float(rng.uniform(0.85, 1)),
            float(rng.uniform(0.85, 1)),
            10,
            90,
        )
        prices = rng.normal(40, 20, steps)
        problems.append(DispatchProblem(battery, prices, 24 * 60 / steps, float(rng.uniform(10, 90))))
    return problems


def test_a_cold_reused_model_gives_exactly_what_a_fresh_build_gives() -> None:
    solver = Solver(warm_start=False)
    for problem in fleet(40) + fleet(10, steps=96):
        reused, fresh = solver.solve(problem), optimize(problem)
        np.testing.assert_array_equal(reused.charge_kw, fresh.charge_kw)
        np.testing.assert_array_equal(reused.discharge_kw, fresh.discharge_kw)
        assert reused.objective == fresh.objective


def test_a_warm_started_model_reaches_the_same_optimum() -> None:
    solver = Solver(warm_start=True)
    for problem in fleet(40, seed=1):
        warm, fresh = solver.solve(problem), optimize(problem)
        assert warm.objective == pytest.approx(fresh.objective, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(warm.soc_pct, fresh.soc_pct, atol=1e-6)


def test_a_process_pool_returns_the_same_plans_in_order() -> None:
    problems = fleet(60, seed=2)

    pooled = optimize_many(problems, jobs=2, chunk_size=20)
    alone = optimize_many(problems)

    assert [d.objective for d in pooled] == pytest.approx([d.objective for d in alone], rel=1e-9, abs=1e-9)


def test_bad_batch_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        optimize_many([], jobs=0)
