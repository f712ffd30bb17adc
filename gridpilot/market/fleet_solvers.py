"""Where a fleet run's problems are solved: in this process (one or more cores) or, with RabbitMQ, on workers.

Every solve is cold (no warm start): a device's plan then depends only on its own problem, never on which
process solved it or what it solved before, so in-process runs and RabbitMQ tasks give the same schedules.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from gridpilot.market.dispatch import Dispatch, DispatchProblem, optimize_many

ChunkDone = Callable[[int], None]
"""Called with the number of problems of each chunk once it is solved (progress bars)."""


class PlanSolver(Protocol):
    """Solves dispatch problems somewhere and returns their plans in order."""

    async def solve(self, problems: Sequence[DispatchProblem], *, on_chunk: ChunkDone | None = None) -> list[Dispatch]:
        """The plan of every problem, in the order given."""


def chunked(problems: Sequence[DispatchProblem], size: int) -> list[list[DispatchProblem]]:
    """The problems in consecutive chunks of at most `size`."""
    return [list(problems[start : start + size]) for start in range(0, len(problems), size)]


_solve_cold = functools.partial(optimize_many, jobs=1, warm_start=False)


class InProcessSolver:
    """Solves in chunks off the event loop: in a thread with jobs=1, else in a pool of `jobs` spawned processes."""

    def __init__(self, *, jobs: int = 1, chunk_size: int = 500) -> None:
        self.jobs = jobs
        self.chunk_size = chunk_size

    async def solve(self, problems: Sequence[DispatchProblem], *, on_chunk: ChunkDone | None = None) -> list[Dispatch]:
        """The plan of every problem, in order."""
        chunks = chunked(problems, self.chunk_size)
        if self.jobs == 1 or len(chunks) == 1:
            plans: list[Dispatch] = []
            for chunk in chunks:
                plans.extend(await asyncio.to_thread(_solve_cold, chunk))
                if on_chunk is not None:
                    on_chunk(len(chunk))
            return plans
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")  # the server has threads: fork is not safe there
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(chunks)), mp_context=context) as pool:
            futures = [loop.run_in_executor(pool, _solve_cold, chunk) for chunk in chunks]
            for done in asyncio.as_completed(futures):
                count = len(await done)
                if on_chunk is not None:
                    on_chunk(count)
            results = [future.result() for future in futures]
        return [plan for chunk_plans in results for plan in chunk_plans]
