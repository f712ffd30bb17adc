"""Live dashboard updates: how long from a device's post to every connected WebSocket client having the event.

Two measurements:

- `ws` (default): real `gridpilot serve` processes on a throwaway PostgreSQL database, 200
  WebSocket clients (one logged-in session) in asyncio in this separate process, and a few
  hundred telemetry posts over HTTP. For each event: the time from just before its POST to
  each client having it, once with 1 server process (in-process bus) and once with 2
  processes behind Redis pub/sub (clients split between them, posts alternating).
- `publish-cost`: in-process, what publishing adds to the write path: `InProcessQueue.put_many`
  on batches of 500 ack messages with no bus against a RedisBus (a subscriber listening in
  another process), interleaved, plus the event building and the sender's own work per batch.

    .venv/bin/python bench/bench_dashboard_ws.py ws --clients 200 --events 300
    .venv/bin/python bench/bench_dashboard_ws.py publish-cost --batches 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
import redis.asyncio as redis
from gridpilot_process import gridpilot_command, server_environment
from provenance import free_port
from throwaway_pg import throwaway_database
from websockets.asyncio.client import ClientConnection, connect

HOST = "127.0.0.1"
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "bench-password-1"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def gridpilot(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """Run a gridpilot command to completion; its output."""
    done = subprocess.run(
        [gridpilot_command(), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"gridpilot {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def servers(env: dict[str, str], count: int, logs: Path) -> Iterator[list[str]]:
    """`count` `gridpilot serve` processes (1 worker each) on ports of their own; their base URLs."""
    started: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for n in range(count):
            port = free_port()
            log = (logs / f"server-{n}.log").open("wb")
            command = [gridpilot_command(), "serve", "--host", HOST, "--port", str(port), "--workers", "1"]
            started.append(
                subprocess.Popen(
                    [*command, "--no-migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
            urls.append(f"http://{HOST}:{port}")
        for url, process in zip(urls, started, strict=True):
            wait_live(url, process)
        yield urls
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_live(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/live", timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


# --- ws: 200 clients ----------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one configuration measured."""

    label: str
    clients: int
    sent: dict[float, float] = field(default_factory=dict)  # event key -> perf_counter just before its POST
    posted: list[float] = field(default_factory=list)  # POST round trips
    received: list[dict[float, float]] = field(default_factory=list)  # per client: event key -> perf_counter


async def log_in(url: str) -> str:
    """The Cookie header of a logged-in dashboard session (the form, with its CSRF token)."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no CSRF token on /login"
        answer = await client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token[1]})
        assert answer.status_code == 303, answer.text
        return f"gridpilot_session={client.cookies['gridpilot_session']}"


async def register(url: str, key: str, count: int) -> list[tuple[str, dict[str, str]]]:
    """Devices and their credential headers."""
    devices = []
    async with httpx.AsyncClient(base_url=url, trust_env=False, headers={"Authorization": f"Bearer {key}"}) as client:
        for n in range(count):
            body = {
                "id": f"ws-{n}",
                "name": f"ws-{n}",
                "site": "bench",
                "capacity_kwh": 10.0,
                "max_charge_kw": 5.0,
                "max_discharge_kw": 5.0,
            }
            answer = await client.post("/api/v1/devices", json=body)
            assert answer.status_code == 201, answer.text
            devices.append((cast(str, body["id"]), {"Authorization": f"Bearer {answer.json()['credential']}"}))
    return devices


async def listen(ws: ClientConnection, into: dict[float, float]) -> None:
    """Record when each telemetry event arrives (keyed by its point's power_kw, unique per event)."""
    async for raw in ws:
        now = time.perf_counter()
        frame = json.loads(raw)
        for event in frame.get("events", ()):
            if event.get("type") == "telemetry":
                into.setdefault(float(event["point"]["power_kw"]), now)


async def measure(run: Run, urls: list[str], key: str, *, events: int, rate: float, redis_prefix: str | None) -> None:
    devices = await register(urls[0], key, 10)
    cookie = await log_in(urls[0])
    if redis_prefix is not None:  # every server's hub listens before the first event
        client = redis.Redis.from_url(REDIS_URL)
        for _ in range(600):
            if (await client.pubsub_numsub(f"{redis_prefix}:live"))[0][1] >= len(urls):
                break
            await asyncio.sleep(0.05)
        await client.aclose()
    sockets = []
    for n in range(run.clients):
        url = urls[n % len(urls)].replace("http://", "ws://") + "/live"
        ws = await connect(url, additional_headers={"Cookie": cookie}, proxy=None, open_timeout=30, max_queue=None)
        assert json.loads(await ws.recv()) == {"type": "hello"}
        sockets.append(ws)
        run.received.append({})
    listeners = [asyncio.create_task(listen(ws, seen)) for ws, seen in zip(sockets, run.received, strict=True)]
    posters = [httpx.AsyncClient(base_url=url, trust_env=False) for url in urls]

    async def post(n: int, warmup: bool) -> None:
        device_id, credential = devices[n % len(devices)]
        power = float(n) + (0.5 if warmup else 0.0)
        point = {
            "at": (START + timedelta(seconds=n, milliseconds=500 if warmup else 0)).isoformat(),
            "soc_pct": 50.0,
            "power_kw": power,
            "state": "idle",
        }
        began = time.perf_counter()
        if not warmup:
            run.sent[power] = began
        answer = await posters[n % len(posters)].post(
            f"/api/v1/devices/{device_id}/telemetry", json={"points": [point]}, headers=credential
        )
        assert answer.status_code == 200, answer.text
        if not warmup:
            run.posted.append(time.perf_counter() - began)

    try:
        for n in range(10):
            await post(n, warmup=True)
        await asyncio.sleep(1)
        pending = []
        for n in range(events):
            pending.append(asyncio.create_task(post(n, warmup=False)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*pending)
        for _ in range(100):  # up to 10 s for the last events to arrive everywhere
            if all(len(seen) >= 10 + events for seen in run.received):
                break
            await asyncio.sleep(0.1)
    finally:
        for task in listeners:
            task.cancel()
        for ws in sockets:
            await ws.close()
        for poster in posters:
            await poster.aclose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def report(run: Run) -> str:
    """One table row: per event, the time until ALL clients had it; and per (event, client) delivery."""
    all_clients: list[float] = []
    deliveries: list[float] = []
    missing = 0
    for key, began in run.sent.items():
        times = [seen[key] - began for seen in run.received if key in seen]
        missing += run.clients - len(times)
        deliveries += times
        all_clients.append(max(times) if len(times) == run.clients else float("inf"))  # a miss counts as never

    def ms(s: float) -> str:
        return f"{s * 1000:.0f} ms"

    return (
        f"| {run.label} | {run.clients} | {len(run.sent)} | {ms(percentile(all_clients, 50))} | "
        f"{ms(percentile(all_clients, 95))} | {ms(max(all_clients))} | {ms(percentile(deliveries, 50))} | "
        f"{ms(percentile(run.posted, 50))} | {missing} |"
    )


def ws_bench(args: argparse.Namespace) -> None:
    rows = []
    for processes in args.processes:
        with throwaway_database("gridpilot_bench_ws") as database, tempfile.TemporaryDirectory() as tmp:
            prefix = f"bench-ws-{uuid.uuid4().hex[:8]}"
            extra = {"GRIDPILOT_REDIS_URL": REDIS_URL, "GRIDPILOT_REDIS_PREFIX": prefix} if processes > 1 else {}
            env = server_environment(database, Path(tmp), **extra)
            gridpilot(["migrate"], env)
            output = gridpilot(["operators", "create", "bench", "--role", "admin"], env)
            key = re.search(r"gpk_[A-Za-z0-9_-]+", output)
            assert key, output
            gridpilot(["operators", "set-password", "bench", "--password-stdin"], env, stdin=PASSWORD + "\n")
            label = "1 process, in-process bus" if processes == 1 else f"{processes} processes, Redis pub/sub"
            run = Run(label, args.clients)
            with servers(env, processes, Path(tmp)) as urls:
                print(f"{label}: {args.clients} clients, {args.events} events at {args.rate}/s", file=sys.stderr)
                asyncio.run(
                    measure(
                        run,
                        urls,
                        key[0],
                        events=args.events,
                        rate=args.rate,
                        redis_prefix=prefix if processes > 1 else None,
                    )
                )
            rows.append(report(run))
    print(
        f"`{' '.join(sys.argv)}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    print(
        "| servers | clients | events | all clients have it, p50 | p95 | max | one client, p50 | POST answered, p50 "
        "| deliveries missing |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


# --- publish-cost: what publishing adds to the write path ---------------------------------------------------------


async def publish_cost(args: argparse.Namespace, database: str, data_dir: Path) -> None:
    from sqlalchemy import select

    from gridpilot import migrate
    from gridpilot.app import create_app
    from gridpilot.auth import service as auth_service
    from gridpilot.auth.schemas import Role
    from gridpilot.config import Settings
    from gridpilot.fleet.models import Schedule, ScheduleInterval
    from gridpilot.live.bus import RedisBus
    from gridpilot.live.events import encode_events, events_from_payloads
    from gridpilot.messaging.handlers import DeviceMessage
    from gridpilot.messaging.queue import InProcessQueue
    from gridpilot.protocol.mqtt import Channel, encode

    settings = Settings(
        environment="test",
        log_json=False,
        data_dir=data_dir,
        database_url=f"postgresql+asyncpg://postgres@{HOST}:5432/{database}",
        device_contact_write_every_s=30,
    )
    await asyncio.to_thread(migrate.upgrade, settings)
    app = create_app(settings)
    factory = app.state.session_factory
    async with factory() as session:
        admin = await auth_service.create_operator(session=session, name="bench", role=Role.ADMIN)
        _, key = await auth_service.create_api_key(session=session, operator=admin, name="bench")
        await session.commit()
    transport = httpx.ASGITransport(app=app)
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = {"Authorization": f"Bearer {key}"}
        ids = [f"pc-{n}" for n in range(args.devices)]
        for device_id in ids:
            body = {
                "id": device_id,
                "name": device_id,
                "site": "bench",
                "capacity_kwh": 10.0,
                "max_charge_kw": 5.0,
                "max_discharge_kw": 5.0,
            }
            assert (await client.post("/api/v1/devices", json=body, headers=headers)).status_code == 201
        intervals = [
            {
                "start": (start + timedelta(minutes=15 * i)).isoformat(),
                "end": (start + timedelta(minutes=15 * (i + 1))).isoformat(),
                "mode": 1,
                "rate_kw": 1.0,
            }
            for i in range(8)
        ]
        answer = await client.post(
            "/api/v1/schedules", json=[{"device_id": d, "intervals": intervals} for d in ids], headers=headers
        )
        assert answer.status_code == 201, answer.text
    async with factory() as session:
        rows = (await session.execute(select(Schedule.device_id, ScheduleInterval.id).join(Schedule))).all()
    now = datetime.now(UTC)

    pick = random.Random(7)

    def batch() -> list[DeviceMessage]:
        messages = []
        for _ in range(args.batch_size):
            device_id, interval_id = pick.choice(rows)
            ack = {
                "ack_id": str(uuid.uuid4()),
                "interval_id": interval_id,
                "status": "executed",
                "started_at": (now - timedelta(minutes=15)).isoformat(),
                "ended_at": now.isoformat(),
                "energy_kwh": 0.25,
            }
            messages.append(DeviceMessage(device_id, Channel.ACKS, encode("acks", [ack])))
        return messages

    prefix = f"bench-pc-{uuid.uuid4().hex[:8]}"
    listener = await asyncio.create_subprocess_exec(
        "redis-cli", "-h", HOST, "subscribe", f"{prefix}:live", stdout=subprocess.DEVNULL, start_new_session=True
    )
    bus = RedisBus(REDIS_URL, f"{prefix}:live")
    plain, live = InProcessQueue(settings, factory), InProcessQueue(settings, factory, bus)
    timings: dict[str, list[float]] = {"no bus": [], "RedisBus": []}
    try:
        await plain.put_many(batch())  # warm-up: connections, statement caches
        await live.put_many(batch())
        await asyncio.sleep(0.2)
        for n in range(args.batches):
            label, queue = ("no bus", plain) if n % 2 == 0 else ("RedisBus", live)
            messages = batch()
            began = time.perf_counter()
            await queue.put_many(messages)
            timings[label].append(time.perf_counter() - began)
            await asyncio.sleep(0.05)  # the sender's publish happens here, outside the timed write
        sample = [(m.device_id, m.channel, m.payload) for m in batch()]
        reps = 50
        began = time.perf_counter()
        for _ in range(reps):
            built = events_from_payloads(sample)
        build = (time.perf_counter() - began) / reps
        began = time.perf_counter()
        for _ in range(reps):
            wire = encode_events(built)
        encoding = (time.perf_counter() - began) / reps
        redis_client = redis.Redis.from_url(REDIS_URL)
        began = time.perf_counter()
        for _ in range(reps):
            await redis_client.publish(f"{prefix}:live", wire)
        round_trip = (time.perf_counter() - began) / reps
        await redis_client.aclose()
    finally:
        await bus.close()
        listener.terminate()
        await listener.wait()
        await app.state.engine.dispose()
    print(
        f"`{' '.join(sys.argv)}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores; PostgreSQL, {args.devices} devices, batches of {args.batch_size} ack messages, "
        f"{args.batches} batches interleaved\n"
    )
    print("| put_many of one batch | median | p90 | acks/s (median) |")
    print("|---|---|---|---|")
    for label, values in timings.items():
        median = statistics.median(values)
        print(
            f"| {label} | {median * 1000:.1f} ms | {percentile(values, 90) * 1000:.1f} ms | "
            f"{args.batch_size / median:,.0f} |"
        )
    print(
        f"\nper batch: events built in the writer {build * 1000:.2f} ms ({len(built)} events, "
        f"{len(wire):,} bytes); in the sender task: encoding {encoding * 1000:.2f} ms, "
        f"Redis PUBLISH round trip {round_trip * 1000:.2f} ms"
    )


def publish_cost_bench(args: argparse.Namespace) -> None:
    with throwaway_database("gridpilot_bench_pc") as database, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(publish_cost(args, database, Path(tmp)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    ws = commands.add_parser("ws", help="200 WebSocket clients: post-to-every-client time")
    ws.add_argument("--clients", type=int, default=200)
    ws.add_argument("--events", type=int, default=300)
    ws.add_argument("--rate", type=float, default=20.0, help="events (telemetry posts) per second")
    ws.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="server processes per run (2+: Redis)")
    cost = commands.add_parser("publish-cost", help="what publishing adds to InProcessQueue.put_many")
    cost.add_argument("--devices", type=int, default=500)
    cost.add_argument("--batch-size", type=int, default=500)
    cost.add_argument("--batches", type=int, default=40)
    args = parser.parse_args(sys.argv[1:] or ["ws"])
    if args.command == "publish-cost":
        publish_cost_bench(args)
    else:
        ws_bench(args)


if __name__ == "__main__":
    main()
