"""Fleet optimization at scale: one market day planned for N batteries, split into its stages, per way of solving.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as postgres, RabbitMQ on 127.0.0.1:5672 guest/guest):

    .venv/bin/python bench/bench_fleet_optimize.py --devices 10000 [--mode in-process-1 --mode rabbit-2]

A throwaway database gets the last 60 days of NP prices from ../shared/data/epf/NP.csv (through the market
service, time zone UTC as the file's wall clock), a promoted naive-weekly model, and N devices registered
through the fleet service (random sizes 5 kWh–2 MWh, power 0.25–1 C, 90–97 % efficiencies, SoC 10–90 %, all
tagged market:NP). Each mode plans the day after the last price day from scratch (the previous mode's
schedules are deleted first), through `gridpilot.market.fleet_jobs.plan_day`, and records the wall time of
each stage: devices read, prices (forecast), solve (problem build + solve + plan), store (schedule build,
validation, COPY), and in total. Modes: in-process-1, in-process-2 (spawned pool), rabbit-2 (two `gridpilot
worker --no-mqtt` processes on a private prefix). The push to devices is not included (no MQTT configured).
Everything is removed on exit. Progress on stderr, markdown on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from provenance import ROOT, git_revision
from sqlalchemy import text
from throwaway_pg import throwaway_database

from gridpilot import migrate
from gridpilot.auth.schemas import SYSTEM
from gridpilot.config import Settings
from gridpilot.db import create_engine, create_session_factory
from gridpilot.fleet import service as device_service
from gridpilot.fleet.schemas import DeviceIn
from gridpilot.market import fleet_jobs, registry
from gridpilot.market.fleet_solvers import InProcessSolver, PlanSolver
from gridpilot.market.importing import import_batch
from gridpilot.market.imports.batch import PriceBatch, PricePoint
from gridpilot.market.serving import ModelCache
from gridpilot.messaging import rabbit
from gridpilot.messaging.tasks import RabbitSolver, task_queue

HOST = "127.0.0.1"
AMQP_URL = f"amqp://guest:guest@{HOST}:5672/"
PRICES = ROOT.parent / "shared" / "data" / "epf" / "NP.csv"
PRICE_DAYS = 60
MODES = ("in-process-1", "in-process-2", "rabbit-2")
STAGES = ("devices", "prices", "solve", "store")


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped on exit."""
    with throwaway_database("gridpilot_bench_optimize") as name:
        log(f"database {name} created")
        yield f"postgresql+asyncpg://postgres@{HOST}:5432/{name}"


async def seed(settings: Settings, devices: int) -> datetime:
    """Prices, a promoted naive-weekly model and the devices; returns the last price hour."""
    frame = pd.read_csv(PRICES, index_col=0)
    index = pd.DatetimeIndex(pd.to_datetime(frame.index)).tz_localize("UTC")
    prices = frame["Real price"].to_numpy()[-PRICE_DAYS * 24 :]
    starts = index[-PRICE_DAYS * 24 :].to_pydatetime()
    now = datetime.now(UTC)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    async with factory() as session:
        batch = PriceBatch(source="NP.csv", resolution_minutes=60, currency="EUR", unit="EUR/MWh")
        batch.points = [PricePoint(s, float(p), i) for i, (s, p) in enumerate(zip(starts, prices, strict=True))]
        batch.rows_read = len(batch.points)
        await import_batch(session=session, market="NP", timezone="UTC", batch=batch, now=now)
        request = registry.TrainingRequest(market="NP", model_name="naive-weekly", options={}, holdout_days=0)
        await registry.train(session=session, settings=settings, request=request, now=now, promote=True)
        await session.commit()
    rng = np.random.default_rng(6)
    began = time.perf_counter()
    for first in range(0, devices, 500):
        async with factory() as session:
            for n in range(first, min(first + 500, devices)):
                capacity = float(rng.uniform(5, 2000))
                power = capacity * float(rng.uniform(0.25, 1.0))
                device_in = DeviceIn(
                    id=f"bat-{n:05d}",
                    name=f"battery {n}",
                    capacity_kwh=round(capacity, 3),
                    max_charge_kw=round(power, 3),
                    max_discharge_kw=round(power, 3),
                    charge_efficiency=round(float(rng.uniform(0.9, 0.97)), 3),
                    discharge_efficiency=round(float(rng.uniform(0.9, 0.97)), 3),
                    tags=["market:NP"],
                )
                device, _ = await device_service.register(session=session, device_in=device_in, actor=SYSTEM, now=now)
                device.last_soc_pct, device.last_soc_at = round(float(rng.uniform(10, 90)), 2), now
            await session.commit()
        log(f"{min(first + 500, devices)} devices registered")
    log(f"registering took {time.perf_counter() - began:.1f} s")
    await engine.dispose()
    return cast(datetime, starts[-1])


async def forget_schedules(settings: Settings) -> None:
    """Every device back to no schedule, so that the next mode stores the whole fleet again."""
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE schedule_intervals, schedules RESTART IDENTITY CASCADE"))
        await connection.execute(text("UPDATE devices SET schedule_version = 0"))
    await engine.dispose()


@contextlib.asynccontextmanager
async def workers(settings: Settings, count: int) -> AsyncIterator[None]:
    """`count` `gridpilot worker --no-mqtt` processes consuming the private prefix's task queue."""
    env = {
        **os.environ,
        "GRIDPILOT_DATABASE_URL": settings.database_url or "",
        "GRIDPILOT_AMQP_URL": AMQP_URL,
        "GRIDPILOT_AMQP_PREFIX": settings.amqp_prefix,
        "GRIDPILOT_ENVIRONMENT": "test",
        "GRIDPILOT_LOG_LEVEL": "WARNING",
    }
    gridpilot = str(ROOT / ".venv" / "bin" / "gridpilot")
    procs = [await asyncio.create_subprocess_exec(gridpilot, "worker", "--no-mqtt", env=env) for _ in range(count)]
    try:
        connection = await rabbit.connect(settings)
        async with connection:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):  # a passive declaration of a missing queue closes its channel
                    async with connection.channel() as channel:
                        queue = await channel.declare_queue(task_queue(settings.amqp_prefix), passive=True)
                        result = queue.declaration_result
                        if result is not None and result.consumer_count is not None and result.consumer_count >= count:
                            break
                await asyncio.sleep(0.5)
            else:
                raise RuntimeError("the workers did not start consuming within 120 s")
        log(f"{count} workers consuming")
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        connection = await rabbit.connect(settings)
        async with connection:
            await rabbit.delete(await connection.channel(), rabbit.Names.of(settings.amqp_prefix))


async def run_mode(settings: Settings, mode: str, day: datetime, now: datetime) -> dict[str, float]:
    """One fleet run in this mode; seconds per stage and in total."""
    await forget_schedules(settings)
    solver: PlanSolver
    if mode.startswith("in-process"):
        solver = InProcessSolver(jobs=int(mode.rsplit("-", 1)[1]), chunk_size=settings.optimize_chunk_size)
        return await _timed(settings, solver, day, now)
    solver = RabbitSolver(settings)
    async with workers(settings, int(mode.rsplit("-", 1)[1])):
        return await _timed(settings, solver, day, now)


async def _timed(settings: Settings, solver: PlanSolver, day: datetime, now: datetime) -> dict[str, float]:
    engine = create_engine(settings)
    try:
        began = time.perf_counter()
        report = await fleet_jobs.plan_day(
            session_factory=create_session_factory(engine),
            settings=settings,
            cache=ModelCache(),
            solver=solver,
            publisher=None,
            market="NP",
            day=day.date(),
            now=now,
        )
        total = time.perf_counter() - began
    finally:
        await engine.dispose()
    log(
        f"stored {len(report.stored)}, idle {len(report.idle)}, skipped {len(report.skipped)}; "
        f"prices from {report.prices_source} ({report.model})"
    )
    if report.skipped:
        log(f"first skip: {next(iter(report.skipped.items()))}")
    return {
        **{stage: report.seconds.get(stage, 0.0) for stage in STAGES},
        "total": total,
        "stored": float(len(report.stored)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--mode", action="append", choices=MODES, help="repeatable; default: all")
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    modes = args.mode or list(MODES)
    load_before = os.getloadavg()
    results: dict[str, dict[str, float]] = {}
    with bench_database() as url, tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            environment="test",
            database_url=url,
            data_dir=Path(data_dir),
            amqp_url=AMQP_URL,
            amqp_prefix=f"bench_optimize_{secrets.token_hex(3)}",
            optimize_chunk_size=args.chunk_size,
            log_json=False,
        )
        migrate.upgrade(settings)
        last = asyncio.run(seed(settings, args.devices))
        day = (last + timedelta(hours=1)).replace(hour=0)
        now = day - timedelta(hours=11)  # noon-ish of the day before, as the daily job would
        for mode in modes:
            log(f"mode {mode}")
            results[mode] = asyncio.run(run_mode(settings, mode, day, now))
            log(f"{mode}: {results[mode]}")
    print(
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit `{git_revision()}`, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average before "
        f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} (1 min). {args.devices:,} devices, day {day:%Y-%m-%d} "
        f"(hourly, 24 steps), chunks of {args.chunk_size}.\n"
    )
    print("| mode | devices read | forecast | build + solve | store schedules | total | stored |")
    print("|---|---|---|---|---|---|---|")
    for mode, seconds in results.items():
        cells = " | ".join(f"{seconds[s]:.2f} s" for s in (*STAGES, "total"))
        print(f"| {mode} | {cells} | {int(seconds['stored']):,} |")


if __name__ == "__main__":
    main()
