"""Fleet optimization as RabbitMQ tasks: exact wire format, the same plans as in-process, a clear timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
import pytest

from gridpilot.config import Settings
from gridpilot.market import fleet_jobs
from gridpilot.market.dispatch import Battery, Dispatch, DispatchProblem
from gridpilot.market.exceptions import SolverUnavailable
from gridpilot.market.fleet_solvers import InProcessSolver
from gridpilot.messaging.tasks import (
    OptimizationConsumer,
    RabbitSolver,
    decode_plans,
    decode_problems,
    encode_plans,
    encode_problems,
)
from tests.market.fleet_setup import DAY, NOW, add_device, cache, database, seed_market
from tests.messaging.rabbit import delete_topology, with_rabbit


@pytest.fixture
async def amqp(settings: Settings) -> AsyncIterator[Settings]:
    """The test's settings with a RabbitMQ prefix of its own, whose queues are deleted at the end."""
    configured = with_rabbit(settings, optimize_chunk_size=3)
    yield configured
    await delete_topology(configured)


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[OptimizationConsumer]:
    """An optimization consumer running in this process until the block ends."""
    consumer = OptimizationConsumer(settings)
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.ready.wait(), 10)
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def problems(count: int, seed: int = 6) -> list[DispatchProblem]:
    """Random batteries and hourly prices, some negative."""
    rng = np.random.default_rng(seed)
    return [
        DispatchProblem(
            battery=Battery(
                capacity_kwh=float(rng.uniform(5, 2000)),
                max_charge_kw=float(rng.uniform(1, 1000)),
                max_discharge_kw=float(rng.uniform(1, 1000)),
                charge_efficiency=0.95,
                discharge_efficiency=0.9,
                min_soc_pct=10,
                max_soc_pct=90,
                degradation_cost_per_mwh=float(rng.uniform(0, 5)),
            ),
            prices_per_mwh=rng.normal(40, 30, 24),
            step_minutes=60,
            initial_soc_pct=float(rng.uniform(0, 100)),
            final_soc_pct=50.0,
        )
        for _ in range(count)
    ]


def same(left: list[Dispatch], right: list[Dispatch]) -> bool:
    return len(left) == len(right) and all(
        np.array_equal(a.charge_kw, b.charge_kw)
        and np.array_equal(a.discharge_kw, b.discharge_kw)
        and np.array_equal(a.soc_pct, b.soc_pct)
        and a.objective == b.objective
        and a.method == b.method
        and a.warnings == b.warnings
        for a, b in zip(left, right, strict=True)
    )


async def test_the_wire_format_carries_problems_and_plans_exactly() -> None:
    given = problems(5)
    decoded = decode_problems(encode_problems(given))
    assert all(
        a.battery == b.battery
        and np.array_equal(a.prices_per_mwh, b.prices_per_mwh)
        and a.initial_soc_pct == b.initial_soc_pct
        and a.final_soc_pct == b.final_soc_pct
        for a, b in zip(given, decoded, strict=True)
    )
    plans = await InProcessSolver().solve(given)
    assert same(decode_plans(encode_plans(plans)), plans)


async def test_tasks_on_a_worker_give_the_plans_solved_in_process(amqp: Settings) -> None:
    given = problems(8)
    done: list[int] = []
    async with worker(amqp) as consumer:
        remote = await RabbitSolver(amqp).solve(given, on_chunk=done.append)
    assert consumer.solved == 3 and sorted(done) == [2, 3, 3]
    assert same(remote, await InProcessSolver(chunk_size=5).solve(given))


async def test_a_fleet_run_through_rabbitmq_stores_what_an_in_process_run_would(amqp: Settings) -> None:
    async with database(amqp) as factory:
        async with factory() as session:
            await seed_market(session, amqp)
            for n in range(7):
                await add_device(session, f"bat-{n}", soc=10.0 + 10 * n)
            await session.commit()
        arguments: dict[str, object] = {
            "session_factory": factory,
            "settings": amqp,
            "cache": cache(),
            "publisher": None,
            "market": "NP",
            "day": DAY,
            "now": NOW,
        }
        async with worker(amqp):
            through_rabbit = await fleet_jobs.plan_day(solver=RabbitSolver(amqp), **arguments)  # type: ignore[arg-type]
        in_process = await fleet_jobs.plan_day(solver=InProcessSolver(), **arguments)  # type: ignore[arg-type]
    assert len(through_rabbit.stored) == 7 and sorted(in_process.unchanged) == sorted(through_rabbit.stored)


async def test_without_a_worker_the_run_gives_up_saying_why(amqp: Settings) -> None:
    with pytest.raises(SolverUnavailable, match="is a `gridpilot worker` running"):
        await RabbitSolver(amqp, timeout_s=0.5).solve(problems(4))
