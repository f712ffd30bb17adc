"""Many batteries at once: chunks of problems, one reusing Solver per worker process, every core busy."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from gridpilot.market.dispatch.problem import DispatchProblem
from gridpilot.market.dispatch.result import Dispatch
from gridpilot.market.dispatch.solve import Solver

_worker_solver: Solver | None = None


def optimize_many(
    problems: Sequence[DispatchProblem],
    *,
    jobs: int = 1,
    chunk_size: int = 250,
    warm_start: bool = True,
    start_method: str = "spawn",
) -> list[Dispatch]:
    """The dispatch of every problem, in order; with jobs > 1 chunks run in that many worker processes.

    Within a process one Solver serves all problems, so batteries with the same number of steps share
    one HiGHS model. spawn is the safe default (the caller may have threads); fork starts faster.
    """
    if jobs < 1 or chunk_size < 1:
        raise ValueError("jobs and chunk_size must be at least 1")
    if jobs == 1 or len(problems) <= chunk_size:
        solver = Solver(warm_start=warm_start)
        return [solver.solve(problem) for problem in problems]
    chunks = [list(problems[start : start + chunk_size]) for start in range(0, len(problems), chunk_size)]
    context = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(chunks)), mp_context=context, initializer=_start_worker, initargs=(warm_start,)
    ) as pool:
        results: list[Dispatch] = []
        for chunk_result in pool.map(_solve_chunk, chunks):
            results.extend(chunk_result)
    return results


def _start_worker(warm_start: bool) -> None:
    global _worker_solver
    _worker_solver = Solver(warm_start=warm_start)


def _solve_chunk(problems: list[DispatchProblem]) -> list[Dispatch]:
    solver = _worker_solver or Solver()
    return [solver.solve(problem) for problem in problems]
