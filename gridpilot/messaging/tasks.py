"""Fleet optimization on RabbitMQ: chunks of dispatch problems as tasks, solved by `gridpilot worker` processes.

`{prefix}.optimization-tasks` is a durable queue; a task is a persistent JSON message holding a chunk of
problems, with `reply_to` (the fleet run's own exclusive queue) and `correlation_id` (run and chunk). A worker
takes one task at a time (prefetch 1: chunks are CPU work, spread evenly over workers on any machine),
solves it cold, publishes the plans to `reply_to` and only then acks: a worker that dies mid-task leaves
the task to another. The run stores the schedules itself, in one transaction; a run that died leaves
nothing half-stored and is simply run again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence

import aio_pika
import numpy as np
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from gridpilot.config import Settings
from gridpilot.market.dispatch import Battery, Dispatch, DispatchProblem, Method, Solver
from gridpilot.market.exceptions import SolverUnavailable
from gridpilot.market.fleet_solvers import ChunkDone, InProcessSolver, PlanSolver, chunked
from gridpilot.messaging import rabbit

log = logging.getLogger("gridpilot.worker")
CONTENT_TYPE = "application/json"
_BATTERY_FIELDS = (
    "capacity_kwh",
    "max_charge_kw",
    "max_discharge_kw",
    "charge_efficiency",
    "discharge_efficiency",
    "min_soc_pct",
    "max_soc_pct",
    "degradation_cost_per_mwh",
)


def task_queue(prefix: str) -> str:
    """The name of the task queue under a prefix."""
    return rabbit.Names.of(prefix).tasks


async def declare(channel: AbstractChannel, prefix: str) -> AbstractQueue:
    """Create the durable task queue if missing (idempotent)."""
    return await channel.declare_queue(task_queue(prefix), durable=True)


def encode_problems(problems: Sequence[DispatchProblem]) -> bytes:
    """A chunk as a task body; floats survive JSON exactly (shortest round-trip repr)."""
    items = []
    for problem in problems:
        if problem.site is not None:
            raise ValueError("problems with a site are not sent as tasks")
        items.append(
            {
                "battery": {name: getattr(problem.battery, name) for name in _BATTERY_FIELDS},
                "prices": problem.prices_per_mwh.tolist(),
                "step_minutes": problem.step_minutes,
                "initial_soc_pct": problem.initial_soc_pct,
                "final_soc_pct": problem.final_soc_pct,
                "terminal_value_per_mwh": problem.terminal_value_per_mwh,
            }
        )
    return json.dumps({"problems": items}).encode()


def decode_problems(body: bytes) -> list[DispatchProblem]:
    """The problems of a task body; ValueError (or KeyError, TypeError) when it is not one."""
    return [
        DispatchProblem(
            battery=Battery(**{name: float(item["battery"][name]) for name in _BATTERY_FIELDS}),
            prices_per_mwh=np.asarray(item["prices"], dtype=np.float64),
            step_minutes=float(item["step_minutes"]),
            initial_soc_pct=float(item["initial_soc_pct"]),
            final_soc_pct=item["final_soc_pct"],
            terminal_value_per_mwh=item["terminal_value_per_mwh"],
        )
        for item in json.loads(body)["problems"]
    ]


def encode_plans(plans: Sequence[Dispatch]) -> bytes:
    """Solved plans as a reply body."""
    return json.dumps(
        {
            "plans": [
                {
                    "charge_kw": p.charge_kw.tolist(),
                    "discharge_kw": p.discharge_kw.tolist(),
                    "soc_pct": p.soc_pct.tolist(),
                    "objective": p.objective,
                    "status": p.status,
                    "method": p.method.value,
                    "step_minutes": p.step_minutes,
                    "warnings": list(p.warnings),
                }
                for p in plans
            ]
        }
    ).encode()


def decode_plans(body: bytes) -> list[Dispatch]:
    """The plans of a reply body; SolverUnavailable when the worker replied with an error."""
    reply = json.loads(body)
    if "error" in reply:
        raise SolverUnavailable(f"a worker could not solve a task: {reply['error']}")
    return [
        Dispatch(
            charge_kw=np.asarray(p["charge_kw"], dtype=np.float64),
            discharge_kw=np.asarray(p["discharge_kw"], dtype=np.float64),
            soc_pct=np.asarray(p["soc_pct"], dtype=np.float64),
            grid_import_kw=None,
            grid_export_kw=None,
            objective=float(p["objective"]),
            status=str(p["status"]),
            method=Method(p["method"]),
            step_minutes=float(p["step_minutes"]),
            warnings=tuple(p["warnings"]),
        )
        for p in reply["plans"]
    ]


def answer(solver: Solver, body: bytes) -> bytes:
    """The reply to a task: its plans, or an error naming what was wrong with it."""
    try:
        problems = decode_problems(body)
    except (ValueError, KeyError, TypeError) as exc:
        return json.dumps({"error": f"not a task of dispatch problems: {type(exc).__name__}: {exc}"}).encode()
    return encode_plans([solver.solve(problem) for problem in problems])


class RabbitSolver:
    """Solves a fleet run's problems as tasks on `gridpilot worker` processes and gathers the replies."""

    def __init__(self, settings: Settings, *, chunk_size: int | None = None, timeout_s: float | None = None) -> None:
        self._settings = settings
        self.chunk_size = chunk_size or settings.optimize_chunk_size
        self.timeout_s = timeout_s or settings.optimize_task_timeout_s

    async def solve(self, problems: Sequence[DispatchProblem], *, on_chunk: ChunkDone | None = None) -> list[Dispatch]:
        """Publish every chunk (confirmed), then wait for all replies; SolverUnavailable after the timeout."""
        chunks = chunked(problems, self.chunk_size)
        if not chunks:
            return []
        run = uuid.uuid4().hex
        results: dict[int, list[Dispatch]] = {}
        failure: list[Exception] = []
        finished = asyncio.Event()

        async def on_reply(message: AbstractIncomingMessage) -> None:
            run_id, _, index = (message.correlation_id or "").partition(":")
            if run_id != run or not index.isdigit() or int(index) in results:
                return
            try:
                results[int(index)] = decode_plans(message.body)
            except Exception as exc:  # noqa: BLE001 - any broken reply ends the run with its reason
                failure.append(exc)
                finished.set()
                return
            if on_chunk is not None:
                on_chunk(len(results[int(index)]))
            if len(results) == len(chunks):
                finished.set()

        connection = await rabbit.connect(self._settings)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await declare(channel, self._settings.amqp_prefix)
            replies = await channel.declare_queue(exclusive=True, auto_delete=True)
            await replies.consume(on_reply, no_ack=True)
            for index, chunk in enumerate(chunks):
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        encode_problems(chunk),
                        content_type=CONTENT_TYPE,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        correlation_id=f"{run}:{index}",
                        reply_to=replies.name,
                        message_id=uuid.uuid4().hex,
                    ),
                    routing_key=task_queue(self._settings.amqp_prefix),
                )
            try:
                async with asyncio.timeout(self.timeout_s):
                    await finished.wait()
            except TimeoutError:
                raise SolverUnavailable(
                    f"{len(chunks) - len(results)} of {len(chunks)} optimization tasks were not solved within "
                    f"{self.timeout_s:g} s: is a `gridpilot worker` running with GRIDPILOT_AMQP_URL and the prefix "
                    f"{self._settings.amqp_prefix!r}?"
                ) from None
        if failure:
            raise failure[0]
        return [plan for index in range(len(chunks)) for plan in results[index]]


class OptimizationConsumer:
    """Consumes `{prefix}.optimization-tasks` until cancelled: one task at a time, acked after its reply."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.ready = asyncio.Event()
        self.solved = 0

    async def run(self) -> None:
        """Solve tasks as they come; an unacked task goes back to the queue if this worker dies."""
        connection = await rabbit.connect_when_up(self._settings)
        solver = Solver(warm_start=False)
        try:
            channel = await connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=1)
            queue = await declare(channel, self._settings.amqp_prefix)
            async with queue.iterator() as messages:
                self.ready.set()
                log.info("consuming optimization tasks from %s", queue.name)
                async for message in messages:
                    await self._handle(channel, solver, message)
        finally:
            self.ready.clear()
            await connection.close()

    async def _handle(self, channel: AbstractChannel, solver: Solver, message: AbstractIncomingMessage) -> None:
        reply = await asyncio.to_thread(answer, solver, message.body)
        if message.reply_to:
            await channel.default_exchange.publish(
                aio_pika.Message(reply, content_type=CONTENT_TYPE, correlation_id=message.correlation_id),
                routing_key=message.reply_to,
                mandatory=False,  # the run that asked may be gone: its answer is then of no use to anyone
            )
        else:
            log.warning("an optimization task without reply_to was dropped")
        await message.ack()
        self.solved += 1


def solver_for(settings: Settings, *, jobs: int | None = None, in_process: bool = False) -> PlanSolver:
    """RabbitMQ tasks when GRIDPILOT_AMQP_URL is set (unless in_process), else this process's cores."""
    if settings.amqp_url and not in_process:
        return RabbitSolver(settings)
    return InProcessSolver(jobs=jobs or settings.optimize_jobs, chunk_size=settings.optimize_chunk_size)
