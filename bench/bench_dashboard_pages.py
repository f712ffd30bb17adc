"""Page load time of the dashboard's fleet overview and a device page, in a real headless Chromium.

Run from the repository root (Debian's `chromium` on the PATH; PostgreSQL on 127.0.0.1:5432 for --postgres):

    .venv/bin/python bench/bench_dashboard_pages.py                        # 1,000 and 10,000 devices on SQLite
    .venv/bin/python bench/bench_dashboard_pages.py --postgres             # the same on a throwaway PostgreSQL database
    .venv/bin/python bench/bench_dashboard_pages.py --devices 1000 --loads 9 --database-url postgresql+asyncpg://...

For each fleet size: a fresh database (a temporary SQLite file, a throwaway PostgreSQL database, or the empty
database --database-url names), migrated by Alembic and filled directly in bulk: N devices over N/50 sites
(90 % heard from recently, 5 % silent for hours, 5 % never seen), each with a heartbeat (2 % faulted), its latest
telemetry point and a one-hour eight-interval schedule with its acks (5 % failed); the device whose page is loaded
has 24 h of one-minute telemetry and a 48-interval schedule over the window, half of it acknowledged.
Then `gridpilot serve` (one process) on a free port, an operator logs in through the form, and each page is
loaded --loads times after one warm-up load: the time from starting the navigation to the page fully rendered,
i.e. the load event fired and every chart element holding an ECharts canvas, two animation frames later.
In the same process the live pulse's `fleet_summary` query is timed (the median of 20 calls), since it runs every
second per server process while someone watches the overview.

Prints a table on stdout (progress on stderr). The specification: a page in under 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from provenance import free_port, git_revision
from sqlalchemy import Table
from throwaway_pg import throwaway_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridpilot import migrate as migrations  # noqa: E402
from gridpilot.auth import service as auth_service  # noqa: E402
from gridpilot.auth.schemas import Role  # noqa: E402
from gridpilot.config import Settings  # noqa: E402
from gridpilot.dashboard import fleet_views  # noqa: E402
from gridpilot.db import create_engine, create_session_factory  # noqa: E402
from gridpilot.fleet import service as fleet_service  # noqa: E402
from gridpilot.fleet.models import Device, DeviceHeartbeat, Execution, Schedule, ScheduleInterval  # noqa: E402
from gridpilot.telemetry.models import TelemetryLatest, TelemetryPoint  # noqa: E402

OPERATOR = ("bench", "bench-password-1")
PAGE_DEVICE = "dev-00000"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RENDERED = """() => {
  const charts = [...document.querySelectorAll('.chart')];
  return document.readyState === 'complete' && charts.length > 0 && charts.every((c) => c.querySelector('canvas'));
}"""


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def settings_for(*, data_dir: Path, database_url: str | None) -> Settings:
    """Settings of the benchmark's database."""
    fields: dict[str, Any] = {"environment": "development", "log_json": False, "data_dir": data_dir}
    if database_url:
        fields["database_url"] = database_url
    return Settings(**fields)


async def _insert(session: Any, model: Any, rows: list[dict[str, Any]], chunk: int = 2000) -> None:
    table = model.__table__
    for i in range(0, len(rows), chunk):
        await session.execute(table.insert(), rows[i : i + chunk])


async def seed(settings: Settings, devices: int) -> None:
    """The fleet, straight into the database (the API's per-device registration would take minutes)."""
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        async with factory() as session:
            if (await session.scalar(Device.__table__.select().limit(1))) is not None:
                raise SystemExit("the database already has devices; give an empty one")
            operator = await auth_service.create_operator(session=session, name=OPERATOR[0], role=Role.ADMIN)
            await auth_service.set_password(session=session, operator=operator, password=OPERATOR[1])
            device_rows, heartbeat_rows, latest_rows = [], [], []
            for n in range(devices):
                device_id = f"dev-{n:05d}"
                roll = rng.random()
                contact = (
                    None if roll < 0.05 else now - timedelta(hours=3) if roll < 0.10 else now - timedelta(seconds=30)
                )
                device_rows.append(
                    {
                        "id": device_id,
                        "name": f"Battery {n} {rng.choice(['north', 'south', 'east', 'west'])}",
                        "site": f"site-{n % max(1, devices // 50):03d}",
                        "capacity_kwh": rng.choice([10.0, 13.5, 20.0]),
                        "max_charge_kw": 5.0,
                        "max_discharge_kw": 5.0,
                        "min_soc_pct": 10.0,
                        "max_soc_pct": 90.0,
                        "charge_efficiency": 0.95,
                        "discharge_efficiency": 0.95,
                        "timezone": "UTC",
                        "created_at": now - timedelta(days=30),
                        "updated_at": now - timedelta(days=30),
                        "last_contact_at": contact,
                        "schedule_version": 1,
                    }
                )
                if contact is None:
                    continue
                faulted = rng.random() < 0.02
                heartbeat_rows.append(
                    {
                        "device_id": device_id,
                        "at": contact,
                        "agent_version": "1.0.0",
                        "schedule_version": 1,
                        "driver_state": "fault" if faulted else "ok",
                        "fault": "inverter overtemperature" if faulted else None,
                        "outbox_depth": rng.randint(0, 20),
                        "outbox_acks": 0,
                        "outbox_telemetry": 0,
                        "received_at": contact,
                    }
                )
                latest_rows.append(
                    {
                        "device_id": device_id,
                        "at": contact,
                        "soc_pct": rng.uniform(5, 95),
                        "power_kw": rng.uniform(-5, 5),
                        "temperature_c": rng.uniform(15, 35),
                        "state": "idle",
                    }
                )
            await _insert(session, Device, device_rows)
            await _insert(session, DeviceHeartbeat, heartbeat_rows)
            await _insert(session, TelemetryLatest, latest_rows)
            await _insert(
                session,
                TelemetryPoint,
                [{**row, "voltage_v": 51.2, "soh_pct": 98.0, "received_at": row["at"]} for row in latest_rows],
            )
            await session.commit()
            log(f"  {devices} devices, {len(heartbeat_rows)} heartbeats, {len(latest_rows)} latest points")
            await _seed_schedules(session, [cast(str, row["id"]) for row in device_rows], now, rng)
            await _seed_page_device(session, now, rng)
            await session.commit()
    finally:
        await engine.dispose()


async def _seed_schedules(session: Any, device_ids: list[str], now: datetime, rng: random.Random) -> None:
    """One schedule per device: eight 15-minute intervals over the last two hours, acknowledged (5 % failed)."""
    start = now.replace(minute=0, second=0) - timedelta(hours=2)
    await _insert(
        session,
        Schedule,
        [
            {
                "device_id": device_id,
                "version": 1,
                "effective_from": start,
                "created_at": start - timedelta(hours=1),
                "created_by": "operator:bench",
                "source": "api",
                "sent_at": start - timedelta(minutes=59),
                "delivered_at": start - timedelta(minutes=58),
            }
            for device_id in device_ids
            if device_id != PAGE_DEVICE
        ],
    )
    ids = dict(
        (await session.execute(Schedule.__table__.select().with_only_columns(Schedule.device_id, Schedule.id))).all()
    )
    intervals, outcomes = [], {}
    for device_id, schedule_id in ids.items():
        for k in range(8):
            begin = start + timedelta(minutes=15 * k)
            status = "failed" if rng.random() < 0.05 else "executed"
            outcomes[(schedule_id, k)] = (device_id, status, begin)
            intervals.append(
                {
                    "schedule_id": schedule_id,
                    "position": k,
                    "start": begin,
                    "end": begin + timedelta(minutes=15),
                    "mode": 1 + k % 2,
                    "rate_kw": 2.0,
                    "status": status,
                    "status_at": begin + timedelta(minutes=15),
                }
            )
    await _insert(session, ScheduleInterval, intervals)
    stored = await session.execute(
        ScheduleInterval.__table__.select().with_only_columns(
            ScheduleInterval.id, ScheduleInterval.schedule_id, ScheduleInterval.position
        )
    )
    executions = []
    for interval_id, schedule_id, position in stored:
        device_id, status, begin = outcomes[(schedule_id, position)]
        executions.append(
            {
                "ack_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "device_id": device_id,
                "interval_id": interval_id,
                "status": status,
                "started_at": begin,
                "ended_at": begin + timedelta(minutes=15),
                "energy_kwh": 0.5,
                "soc_pct": 50.0,
                "message": "inverter tripped" if status == "failed" else None,
                "received_at": begin + timedelta(minutes=16),
            }
        )
    await _insert(session, Execution, executions)
    log(f"  {len(intervals)} intervals, {len(executions)} executions")


async def _seed_page_device(session: Any, now: datetime, rng: random.Random) -> None:
    """The device whose page is loaded: a day of one-minute telemetry and 48 intervals over ±12 h, half acked."""
    await _insert(
        session,
        TelemetryPoint,
        [
            {
                "device_id": PAGE_DEVICE,
                "at": now - timedelta(minutes=m),
                "soc_pct": 50 + 40 * ((m % 240) / 240 - 0.5),
                "power_kw": rng.uniform(-5, 5),
                "voltage_v": 51.2,
                "temperature_c": rng.uniform(20, 30),
                "soh_pct": 98.0,
                "state": "idle",
                "received_at": now,
            }
            for m in range(1, 1441)
        ],
    )
    start = now.replace(minute=0, second=0) - timedelta(hours=12)
    result = await session.execute(
        cast(Table, Schedule.__table__).insert().returning(Schedule.id),
        [
            {
                "device_id": PAGE_DEVICE,
                "version": 1,
                "effective_from": start,
                "created_at": start - timedelta(hours=1),
                "created_by": "operator:bench",
                "source": "api",
                "sent_at": None,
                "delivered_at": start,
            }
        ],
    )
    schedule_id = result.scalar_one()
    for k in range(48):
        begin = start + timedelta(minutes=30 * k)
        done = begin + timedelta(minutes=30) <= now
        interval_id = await session.scalar(
            cast(Table, ScheduleInterval.__table__).insert().returning(ScheduleInterval.id),
            {
                "schedule_id": schedule_id,
                "position": k,
                "start": begin,
                "end": begin + timedelta(minutes=30),
                "mode": 1 + k % 2,
                "rate_kw": 3.0,
                "status": ("missed" if k % 7 == 0 else "executed") if done else "pending",
                "status_at": None,
            },
        )
        if done:
            await _insert(
                session,
                Execution,
                [
                    {
                        "ack_id": str(uuid.uuid4()),
                        "device_id": PAGE_DEVICE,
                        "interval_id": interval_id,
                        "status": "missed" if k % 7 == 0 else "executed",
                        "started_at": begin,
                        "ended_at": begin + timedelta(minutes=30),
                        "energy_kwh": 1.4,
                        "soc_pct": 50.0,
                        "message": None,
                        "received_at": begin + timedelta(minutes=31),
                    }
                ],
            )


async def summary_ms(settings: Settings, calls: int = 20) -> float:
    """The median time of the live pulse's fleet summary, in milliseconds."""
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    liveness = fleet_service.liveness(settings)
    timings = []
    try:
        for _ in range(calls + 1):
            async with factory() as session:
                started = time.perf_counter()
                await fleet_views.fleet_summary(session=session, now=datetime.now(UTC), liveness=liveness)
                timings.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    return statistics.median(timings[1:])


@contextmanager
def server(settings: Settings, database_url: str | None) -> Iterator[str]:
    """`gridpilot serve` on a free port with the benchmark's database; stopped on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPILOT_")}
    env.update({"GRIDPILOT_DATA_DIR": str(settings.data_dir), "GRIDPILOT_LOG_JSON": "false"})
    if database_url:
        env["GRIDPILOT_DATABASE_URL"] = database_url
    logfile = open(settings.data_dir / "serve.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gridpilot"), "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        cwd=settings.data_dir,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {settings.data_dir / 'serve.log'}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        logfile.close()


def load_times(url: str, paths: dict[str, str], loads: int) -> dict[str, list[float]]:
    """Seconds from navigation start to fully rendered, per page, after one warm-up load each."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium package on the PATH")
    times: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/login")
        page.get_by_label("Operator name").fill(OPERATOR[0])
        page.get_by_label("Password").fill(OPERATOR[1])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/fleet**")
        for name, path in paths.items():
            times[name] = []
            for attempt in range(loads + 1):
                started = time.perf_counter()
                page.goto(f"{url}{path}", wait_until="load")
                page.wait_for_function(RENDERED, polling="raf")
                page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
                if attempt:  # the first load warms the server's and the browser's caches
                    times[name].append(time.perf_counter() - started)
            log(f"    {name}: median {statistics.median(times[name]):.3f} s")
        browser.close()
    return times


def run_size(devices: int, *, loads: int, postgres: bool, database_url: str | None) -> dict[str, Any]:
    """Seed a fleet of `devices`, serve it, and measure."""
    with tempfile.TemporaryDirectory(prefix="gridpilot-bench-pages-") as tmp:
        data_dir = Path(tmp)
        if postgres:
            with throwaway_database("gridpilot_bench_pages") as name:
                return _measure(devices, data_dir, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", loads)
        return _measure(devices, data_dir, database_url, loads)


def _measure(devices: int, data_dir: Path, database_url: str | None, loads: int) -> dict[str, Any]:
    settings = settings_for(data_dir=data_dir, database_url=database_url)
    log(f"{devices} devices on {'PostgreSQL' if database_url else 'SQLite'}: migrating and seeding")
    migrations.upgrade(settings)
    started = time.perf_counter()
    asyncio.run(seed(settings, devices))
    log(f"  seeded in {time.perf_counter() - started:.1f} s")
    summary = asyncio.run(summary_ms(settings))
    log(f"  fleet_summary median {summary:.1f} ms")
    paths = {
        "fleet overview": "/fleet",
        "fleet, sorted by SoC, page 20": "/fleet?sort=soc&order=desc&page=20",
        "device page": f"/devices/{PAGE_DEVICE}",
    }
    with server(settings, database_url) as url:
        times = load_times(url, paths, loads)
    return {"devices": devices, "summary_ms": summary, "times": times}


def main() -> None:
    """Parse the options, run each fleet size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1000, 10000], help="fleet sizes")
    parser.add_argument("--loads", type=int, default=5, help="timed loads per page (after a warm-up)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--postgres", action="store_true", help="a throwaway database on 127.0.0.1:5432")
    group.add_argument("--database-url", help="an empty database to fill (one fleet size only)")
    options = parser.parse_args()
    if options.database_url and len(options.devices) > 1:
        parser.error("--database-url holds one fleet: give one --devices size")
    results = [
        run_size(n, loads=options.loads, postgres=options.postgres, database_url=options.database_url)
        for n in options.devices
    ]
    engine = "PostgreSQL" if options.postgres or options.database_url else "SQLite"
    title = f"Dashboard page load, headless Chromium, {engine}, median of {options.loads} loads"
    print(f"\n{title} (revision {git_revision()})")
    print(f"{'devices':>8} | {'page':<32} | {'median s':>8} | {'min s':>6} | {'max s':>6} | {'< 3 s':<5}")
    print("-" * 80)
    for result in results:
        for name, times in result["times"].items():
            median = statistics.median(times)
            print(
                f"{result['devices']:>8} | {name:<32} | {median:>8.3f} | {min(times):>6.3f} | {max(times):>6.3f} | "
                f"{'yes' if median < 3 else 'NO':<5}"
            )
        print(f"{result['devices']:>8} | {'fleet_summary (live pulse), ms':<32} | {result['summary_ms']:>8.1f} |")


if __name__ == "__main__":
    main()
