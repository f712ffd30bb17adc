"""Load-test the gridpilot HTTP API on a throwaway PostgreSQL database and print a markdown table.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as postgres, wrk on the PATH):

    .venv/bin/python bench/bench_api.py [--devices 1000] [--duration 30s] [--connections 200] [--workers 2]

The server runs as `gridpilot serve` in its own processes; wrk drives it from another one.
Progress goes to stderr, the results (markdown) to stdout. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import asyncpg
import httpx
import typer
from provenance import free_port, git_revision, run_text
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridpilot.config import Settings

HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_DSN = f"postgresql://postgres@{HOST}:{PG_PORT}/postgres"
LUA_SCRIPT = Path(__file__).resolve().parent / "device_schedule.lua"
WRK_THREADS = 2
INTERVALS = 96
INTERVAL = timedelta(minutes=15)
RATE_KW = 2.0
DEVICE_FIELDS = {"capacity_kwh": 13.5, "max_charge_kw": 5, "max_discharge_kw": 5}
CONCURRENCY = 32
SMALL_BATCH_TIMEOUT_S = 300
BIG_BATCH_TIMEOUT_S = 900
SERVER_START_TIMEOUT_S = 60
T = TypeVar("T")
EXPECTED_STATUS = {"health": 200, "full": 200, "etag": 304}

console = Console(stderr=True)


class BenchError(Exception):
    """The benchmark cannot go on (setup failed or the server answered wrongly)."""


@dataclass
class Report:
    """What the run measured: (metric, value) rows, notes, and whether every run was valid."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, metric: str, value: str) -> None:
        """Append one row to the table."""
        self.rows.append((metric, value))
        console.print(f"  {metric}: [bold]{value}[/bold]")


@dataclass
class WrkResult:
    """One wrk run, parsed."""

    mode: str
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    statuses: dict[int, int]
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def unexpected(self) -> int:
        """Responses whose status is not the one this mode must get."""
        return sum(n for status, n in self.statuses.items() if status != EXPECTED_STATUS[self.mode])

    @property
    def valid(self) -> bool:
        """No error, no socket error, and every response with the expected status."""
        return self.non_2xx_3xx == 0 and not any(self.socket_errors.values()) and self.unexpected == 0

    def describe_socket_errors(self) -> str:
        """The socket error count, broken down by kind when there are any."""
        total = sum(self.socket_errors.values())
        kinds = ", ".join(f"{kind} {n}" for kind, n in self.socket_errors.items() if n)
        return f"{total} ({kinds})" if total else "0"


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    devices: int
    duration: str
    connections: int
    timeout: str
    workers: int
    skip_big_batch: bool
    big_batch: int
    port: int
    pace_ms: int


@dataclass
class BatchOutcome:
    """One timed POST /api/v1/schedules."""

    status: int
    accepted: int
    seconds: float
    detail: str


# --- environment -----------------------------------------------------------------------------------------------


def gridpilot_command() -> str:
    """The gridpilot console script next to this interpreter (the project's venv), else the one on the PATH."""
    beside = Path(sys.executable).with_name("gridpilot")
    found = str(beside) if beside.exists() else shutil.which("gridpilot")
    if not found:
        raise BenchError("the gridpilot command is not installed (run from the project's venv)")
    return found


def duration_seconds(duration: str, option: str = "--duration") -> int:
    """wrk's time syntax (30, 30s, 2m, 1h) in seconds."""
    match = re.fullmatch(r"(\d+)([smh]?)", duration)
    if not match:
        raise typer.BadParameter("use wrk's syntax: 30s, 2m, 1h", param_hint=option)
    return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def server_environment(database: str, data_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    """The environment for gridpilot commands: inherited without any GRIDPILOT_*, plus the bench's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPILOT_")}
    env.update(
        GRIDPILOT_DATABASE_URL=f"postgresql+asyncpg://postgres@{HOST}:{PG_PORT}/{database}",
        GRIDPILOT_DATA_DIR=str(data_dir),
        GRIDPILOT_ENVIRONMENT="test",
        GRIDPILOT_SECRET_KEY=secrets.token_urlsafe(32),
        GRIDPILOT_LOG_LEVEL="WARNING",
        COLUMNS="200",
    )
    env.update(overrides)
    return env


def setting_default(name: str) -> int:
    """The default of an integer server setting (the bench clears inherited GRIDPILOT_* variables)."""
    return int(Settings.model_fields[name].default)


def limit_overrides(batch_size: int, body_bytes: int, report: Report) -> dict[str, str]:
    """Environment overrides so that the big batch fits the server's limits, each noted in the report."""
    overrides: dict[str, str] = {}
    max_batch, max_body = setting_default("schedule_max_batch"), setting_default("max_body_bytes")
    if batch_size > max_batch:
        overrides["GRIDPILOT_SCHEDULE_MAX_BATCH"] = str(batch_size)
        report.notes.append(f"schedule_max_batch raised from {max_batch} to {batch_size} for the big batch")
    if body_bytes > max_body:
        raised = body_bytes + body_bytes // 4
        overrides["GRIDPILOT_MAX_BODY_BYTES"] = str(raised)
        report.notes.append(f"max_body_bytes raised from {mib(max_body)} to {mib(raised)} for the big batch")
    return overrides


def machine_lines() -> list[str]:
    """CPU, memory and software versions, for the report's header."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    pg_version, pg_max_connections = asyncio.run(postgres_facts())
    wrk_version = run_text(["wrk", "--version"]).split(" [")[0].strip()
    return [
        f"Machine: `nproc` = {os.cpu_count()}, CPU {cpu}, {memory_kb / 1024**2:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"Software: Python {platform.python_version()}, PostgreSQL {pg_version} "
        f"(max_connections {pg_max_connections}), {wrk_version}, gridpilot at {git_revision()}",
    ]


def mib(size: int) -> str:
    """A byte count in MiB."""
    return f"{size / 2**20:.1f} MiB"


# --- PostgreSQL and the gridpilot CLI ----------------------------------------------------------------------------


async def postgres_execute(statement: str) -> None:
    """Run one statement on the maintenance database as postgres."""
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def postgres_facts() -> tuple[str, str]:
    """The server version and max_connections."""
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        return await connection.fetchval("SHOW server_version"), await connection.fetchval("SHOW max_connections")
    finally:
        await connection.close()


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A new, empty database, dropped on exit whatever happens."""
    name = f"gridpilot_bench_{secrets.token_hex(4)}"
    asyncio.run(postgres_execute(f'CREATE DATABASE "{name}"'))
    console.print(f"database [bold]{name}[/bold] created")
    try:
        yield name
    finally:
        asyncio.run(postgres_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        console.print(f"database {name} dropped")


def gridpilot(args: Sequence[str], env: dict[str, str]) -> str:
    """Run a gridpilot CLI command to completion; its output, or BenchError when it fails."""
    done = subprocess.run(
        [gridpilot_command(), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"gridpilot {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def create_admin_key(env: dict[str, str]) -> str:
    """Create the 'bench' admin operator and return its API key."""
    output = gridpilot(["operators", "create", "bench", "--role", "admin"], env)
    match = re.search(r"gpk_[A-Za-z0-9_-]+", output)
    if not match:
        raise BenchError(f"no API key in the output of gridpilot operators create:\n{output}")
    return match[0]


# --- the server --------------------------------------------------------------------------------------------------


@contextmanager
def running_server(env: dict[str, str], port: int, workers: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`gridpilot serve` in its own process group, up and answering /health/live; terminated on exit."""
    command = [gridpilot_command(), "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "--no-migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_live(server, port, log_path)
            console.print(f"server up on port {port} with {workers} worker(s), pid {server.pid}")
            yield server
        finally:
            stop_server(server)


def wait_until_live(server: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Poll /health/live until it answers 200; BenchError if the server exits or takes too long."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"the server exited with {server.returncode}:\n{log_tail(log_path)}")
        try:
            if httpx.get(f"http://{HOST}:{port}/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchError(f"the server did not answer within {SERVER_START_TIMEOUT_S} s:\n{log_tail(log_path)}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Terminate the server gracefully, then kill whatever is left of its process group."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            console.print("[yellow]the server did not stop within 30 s; killing it[/yellow]")
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    console.print("server stopped")


def log_tail(log_path: Path, lines: int = 30) -> str:
    """The last lines of the server's log."""
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def server_errors(log_path: Path) -> list[str]:
    """Lines of the server log that report an error or a traceback."""
    markers = ('"level": "ERROR"', '"level": "CRITICAL"', "Traceback", " ERROR ", "Killed")
    return [line for line in log_path.read_text(errors="replace").splitlines() if any(m in line for m in markers)]


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (Linux /proc)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(member for child in children for member in process_tree(int(child)))]


def peak_rss_mib(pid: int) -> float:
    """The highest peak resident set size among the server's processes, in MiB."""
    peaks = [0.0]
    for member in process_tree(pid):
        with suppress(OSError):
            status = Path(f"/proc/{member}/status").read_text()
            peaks += [int(kb) / 1024 for kb in re.findall(r"VmHWM:\s+(\d+) kB", status)]
    return max(peaks)


# --- schedules and devices ---------------------------------------------------------------------------------------


def schedule_start(now: datetime) -> datetime:
    """The first quarter-hour boundary at least a minute from now."""
    soon = now + timedelta(minutes=1)
    return soon.replace(minute=soon.minute - soon.minute % 15, second=0, microsecond=0) + INTERVAL


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp with a Z offset."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def intervals_json(start: datetime) -> str:
    """96 quarter-hour intervals from start, alternating charge and discharge: feasible from any SoC."""
    intervals = [
        {
            "start": rfc3339(start + i * INTERVAL),
            "end": rfc3339(start + (i + 1) * INTERVAL),
            "mode": 1 if i % 2 == 0 else 2,
            "rate_kw": RATE_KW,
        }
        for i in range(INTERVALS)
    ]
    return json.dumps(intervals, separators=(",", ":"))


def schedule_json(device_id: str, intervals: str) -> str:
    """One schedule object of a batch, compact JSON."""
    return f'{{"device_id":{json.dumps(device_id)},"intervals":{intervals}}}'


def batch_body(device_ids: Sequence[str]) -> bytes:
    """A JSON array with one 96-interval schedule per device, starting at the next quarter hour."""
    intervals = intervals_json(schedule_start(datetime.now(UTC)))
    return ("[" + ",".join(schedule_json(d, intervals) for d in device_ids) + "]").encode()


def batch_body_size(device_ids: Sequence[str]) -> int:
    """The size of batch_body(device_ids) without building it (timestamps have a fixed width)."""
    intervals = intervals_json(schedule_start(datetime.now(UTC)))
    return 2 + len(device_ids) - 1 + sum(len(schedule_json(d, intervals)) for d in device_ids)


def device_ids(prefix: str, count: int) -> list[str]:
    """Fixed-width device ids: prefix-00001, prefix-00002, ..."""
    return [f"{prefix}-{i:05d}" for i in range(1, count + 1)]


def client(port: int, token: str | None = None) -> httpx.AsyncClient:
    """An HTTP client for the server with one connection, authenticated with the token when given."""
    return httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}",
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=60,
        limits=httpx.Limits(max_connections=1),
    )


async def in_parallel(
    port: int, token: str | None, jobs: Iterable[T], handle: Callable[[httpx.AsyncClient, T], Awaitable[None]]
) -> None:
    """handle(client, job) for every job, on CONCURRENCY connections (a client each: httpx pools scale badly)."""
    pending = iter(jobs)

    async def worker() -> None:
        async with client(port, token) as connection:
            for job in pending:
                await handle(connection, job)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def register_devices(port: int, key: str, ids: Sequence[str]) -> dict[str, str]:
    """Register the devices, CONCURRENCY at a time, with a progress bar; their credentials by id."""
    credentials: dict[str, str] = {}
    columns = (TextColumn("registering devices"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("register", total=len(ids))

        async def register(connection: httpx.AsyncClient, device_id: str) -> None:
            body = {"id": device_id, "name": f"Bench battery {device_id}", **DEVICE_FIELDS}
            response = await connection.post("/api/v1/devices", json=body)
            if response.status_code != 201:
                raise BenchError(f"registering {device_id}: {response.status_code} {response.text[:500]}")
            credentials[device_id] = response.json()["credential"]
            progress.advance(task)

        await in_parallel(port, key, ids, register)
    return credentials


async def submit_batch(port: int, key: str, body: bytes, limit_s: float) -> BatchOutcome:
    """POST one batch of schedules and time it end to end (upload, processing, answer)."""
    async with client(port, key) as connection:
        started = time.perf_counter()
        response = await connection.post(
            "/api/v1/schedules", content=body, headers={"Content-Type": "application/json"}, timeout=limit_s
        )
        seconds = time.perf_counter() - started
    if response.status_code != 201:
        return BatchOutcome(response.status_code, 0, seconds, response.text[:1000])
    return BatchOutcome(response.status_code, len(response.json()["accepted"]), seconds, "")


async def fetch_etags(port: int, credentials: dict[str, str]) -> tuple[dict[str, str], int]:
    """Each device's current ETag from one GET of its schedule as itself; also the size of one full answer."""
    etags: dict[str, str] = {}
    sizes: list[int] = []

    async def fetch(connection: httpx.AsyncClient, device: tuple[str, str]) -> None:
        device_id, credential = device
        response = await connection.get(
            f"/api/v1/devices/{device_id}/schedule", headers={"Authorization": f"Bearer {credential}"}
        )
        intervals = len(response.json().get("intervals", [])) if response.status_code == 200 else 0
        if response.status_code != 200 or intervals != INTERVALS or "etag" not in response.headers:
            raise BenchError(
                f"GET schedule of {device_id}: {response.status_code}, {intervals} intervals, "
                f"ETag {response.headers.get('etag')!r}: {response.text[:300]}"
            )
        etags[device_id] = response.headers["etag"]
        sizes.append(len(response.content))

    await in_parallel(port, None, credentials.items(), fetch)
    return etags, max(sizes)


def write_devices_file(path: Path, credentials: dict[str, str], etags: dict[str, str]) -> None:
    """The device list the wrk script reads: id, credential and ETag per line."""
    path.write_text("".join(f"{d} {c} {etags[d]}\n" for d, c in credentials.items()))


# --- wrk ---------------------------------------------------------------------------------------------------------


def wrk_command(port: int, options: Options) -> list[str]:
    """The wrk invocation shared by every run (the script's arguments follow)."""
    return [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{options.connections}",
        f"-d{options.duration}",
        "--timeout",
        options.timeout,
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        f"http://{HOST}:{port}",
    ]


def run_wrk(
    command: list[str], devices_file: Path, mode: str, seconds: int, server_pid: int, pace_ms: int = 0
) -> WrkResult:
    """Run wrk in one mode (health, full or etag), parse what it printed and note who used the CPU meanwhile.

    pace_ms > 0: each connection waits about that long before each request (a steady load, not saturation).
    """
    console.print(f"wrk {mode}: {shlex.join(command[1:7])} ...")
    server_pids = set(process_tree(server_pid))
    before, children_before, started = cpu_ticks(), children_cpu_s(), time.monotonic()
    done = subprocess.run(
        [*command, "--", str(devices_file), mode, str(pace_ms)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0 or "BENCH " not in done.stdout:
        raise BenchError(f"wrk {mode} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = parse_wrk(mode, done.stdout)
    result.cpu = cpu_split(before, cpu_ticks(), server_pids, elapsed)
    result.cpu["wrk"] = (children_cpu_s() - children_before) / elapsed
    return result


def children_cpu_s() -> float:
    """CPU seconds used so far by this process's finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """Every process's name and CPU time so far (user + system, in clock ticks), from /proc."""
    ticks: dict[int, tuple[str, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        ticks[int(stat.parent.name)] = (name, int(rest[11]) + int(rest[12]))
    return ticks


def cpu_split(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], server_pids: set[int], seconds: float
) -> dict[str, float]:
    """Cores used between two snapshots by the server, PostgreSQL and every other process still running."""
    hertz = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(("server", "postgres", "other"), 0.0)
    for pid, (name, ticks) in after.items():
        category = "server" if pid in server_pids else "postgres" if name.startswith("postgres") else "other"
        used[category] += (ticks - before.get(pid, (name, 0))[1]) / hertz / seconds
    return used


def parse_wrk(mode: str, output: str) -> WrkResult:
    """Requests/s and p50/p90/p99 from wrk's --latency text; p95 and status counts from the script's BENCH line."""
    distribution = {
        int(p): to_ms(float(value), unit)
        for p, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    }
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    bench_line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    fields = dict(item.split("=", 1) for item in bench_line.split()[1:])
    if rate is None or not {50, 90, 99} <= distribution.keys():
        raise BenchError(f"cannot parse wrk's output:\n{output}")
    return WrkResult(
        mode=mode,
        requests_per_s=float(rate[1]),
        p50_ms=distribution[50],
        p90_ms=distribution[90],
        p95_ms=int(fields["p95"]) / 1000,
        p99_ms=distribution[99],
        max_ms=int(fields["max"]) / 1000,
        requests=int(fields["requests"]),
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors={kind: int(fields[kind]) for kind in ("connect", "read", "write", "timeout")},
        statuses={int(k[1:]): int(v) for k, v in fields.items() if re.fullmatch(r"s\d+", k)},
    )


def to_ms(value: float, unit: str) -> float:
    """A wrk latency in milliseconds."""
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def report_wrk(report: Report, label: str, result: WrkResult) -> None:
    """Rows for one wrk run; a run with errors or unexpected statuses is marked invalid."""
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(result.statuses.items()))
    report.add(f"{label}: requests/s", f"{result.requests_per_s:,.0f}")
    report.add(
        f"{label}: latency p50 / p90 / p95 / p99 / max",
        " / ".join(f"{ms:.1f}" for ms in (result.p50_ms, result.p90_ms, result.p95_ms, result.p99_ms, result.max_ms))
        + " ms",
    )
    report.add(
        f"{label}: responses (status: count), non-2xx/3xx, socket errors",
        f"{statuses}; {result.non_2xx_3xx}; {result.describe_socket_errors()}" + ("" if result.valid else " — INVALID"),
    )
    report.add(
        f"{label}: CPU cores busy (server / postgres / wrk / other processes)",
        " / ".join(f"{result.cpu[k]:.2f}" for k in ("server", "postgres", "wrk", "other")),
    )
    if not result.valid:
        report.problems.append(
            f"{label}: {result.non_2xx_3xx} non-2xx/3xx, socket errors {result.describe_socket_errors()}, "
            f"{result.unexpected} responses other than {EXPECTED_STATUS[result.mode]}"
        )


# --- phases ------------------------------------------------------------------------------------------------------


def fleet_phase(port: int, key: str, count: int, report: Report) -> dict[str, str]:
    """Register the devices and submit one schedule each as a single batch; their credentials."""
    ids = device_ids("bench", count)
    started = time.perf_counter()
    credentials = asyncio.run(register_devices(port, key, ids))
    seconds = time.perf_counter() - started
    report.add(
        f"register {count:,} devices (POST /api/v1/devices, {CONCURRENCY} concurrent)",
        f"{seconds:.1f} s ({count / seconds:,.0f} devices/s)",
    )
    body = batch_body(ids)
    outcome = asyncio.run(submit_batch(port, key, body, SMALL_BATCH_TIMEOUT_S))
    report_batch(report, count, len(body), outcome)
    if outcome.status != 201 or outcome.accepted != count:
        raise BenchError(f"the schedule batch was not stored: {outcome.status} {outcome.detail}")
    return credentials


def report_batch(report: Report, count: int, size: int, outcome: BatchOutcome) -> None:
    """The row for one timed batch submission."""
    rate = f", {count / outcome.seconds:,.0f} schedules/s" if outcome.status == 201 else ""
    report.add(
        f"POST /api/v1/schedules, one batch of {count:,} × {INTERVALS} intervals ({mib(size)})",
        f"{outcome.seconds:.2f} s{rate}; status {outcome.status}, {outcome.accepted:,} accepted",
    )
    if outcome.status != 201 or outcome.accepted != count:
        report.problems.append(f"batch of {count}: status {outcome.status}: {outcome.detail[:300]}")


def polling_phase(
    server_pid: int, port: int, credentials: dict[str, str], options: Options, workdir: Path, report: Report
) -> None:
    """wrk against /health/live, then the device schedule GET without and with If-None-Match."""
    etags, full_size = asyncio.run(fetch_etags(port, credentials))
    devices_file = workdir / "devices.txt"
    write_devices_file(devices_file, credentials, etags)
    command = wrk_command(port, options)
    shown = [*command[:-2], "bench/device_schedule.lua", command[-1], "--", "DEVICES_FILE", "health|full|etag"]
    report.notes.append(f"each wrk run: `{shlex.join(shown)}`")
    seconds = duration_seconds(options.duration)
    health = run_wrk(command, devices_file, "health", seconds, server_pid)
    report_wrk(report, "GET /health/live (reference)", health)
    full = run_wrk(command, devices_file, "full", seconds, server_pid)
    report_wrk(report, f"GET device schedule, 200 ({INTERVALS} intervals, {full_size / 1024:.1f} KiB)", full)
    cached = run_wrk(command, devices_file, "etag", seconds, server_pid)
    report_wrk(report, "GET device schedule, If-None-Match → 304", cached)
    report.add(
        "device schedule requests/s ÷ /health/live requests/s",
        f"200: {full.requests_per_s / health.requests_per_s:.2f}; 304: "
        f"{cached.requests_per_s / health.requests_per_s:.2f}",
    )
    if options.pace_ms:
        clients = f"{options.connections} clients each polling every ~{options.pace_ms / 1000:g} s"
        for mode, label in (("full", "200"), ("etag", "If-None-Match → 304")):
            paced = run_wrk(command, devices_file, mode, seconds, server_pid, pace_ms=options.pace_ms)
            report_wrk(report, f"GET device schedule, {label}, steady load: {clients}", paced)


def big_batch_phase(port: int, key: str, count: int, report: Report) -> None:
    """Register `count` more devices and time one batch with a 96-interval schedule for each."""
    ids = device_ids("big", count)
    started = time.perf_counter()
    asyncio.run(register_devices(port, key, ids))
    seconds = time.perf_counter() - started
    report.add(
        f"register {count:,} more devices (for the big batch)", f"{seconds:.1f} s ({count / seconds:,.0f} devices/s)"
    )
    body = batch_body(ids)
    console.print(f"submitting {count:,} schedules in one request ({mib(len(body))})...")
    outcome = asyncio.run(submit_batch(port, key, body, BIG_BATCH_TIMEOUT_S))
    report_batch(report, count, len(body), outcome)


def run(options: Options, report: Report) -> None:
    """Every phase, on a throwaway database and a server of its own."""
    big_ids = [] if options.skip_big_batch else device_ids("big", options.big_batch)
    big_size = batch_body_size(big_ids) if big_ids else 0
    overrides = limit_overrides(len(big_ids), big_size, report) if big_ids else {}
    port = options.port or free_port()
    limits_row(report, overrides)
    with tempfile.TemporaryDirectory(prefix="gridpilot-bench-") as tmp, throwaway_database() as database:
        workdir = Path(tmp)
        env = server_environment(database, workdir / "data", overrides)
        gridpilot(["migrate"], env)
        key = create_admin_key(env)
        log_path = workdir / "server.log"
        try:
            with running_server(env, port, options.workers, log_path) as server:
                credentials = fleet_phase(port, key, options.devices, report)
                polling_phase(server.pid, port, credentials, options, workdir, report)
                if big_ids:
                    big_batch_phase(port, key, len(big_ids), report)
                report.add("server peak RSS (largest process)", f"{peak_rss_mib(server.pid):,.0f} MiB")
        finally:
            report_server_log(log_path, report)


def report_server_log(log_path: Path, report: Report) -> None:
    """Count error lines in the server's log and show the last few on stderr."""
    if not log_path.exists():
        return
    errors = server_errors(log_path)
    report.add("server log: error lines", str(len(errors)))
    if errors:
        report.problems.append(f"the server logged {len(errors)} error line(s)")
        console.print("[red]server errors (last 20 lines):[/red]\n" + "\n".join(errors[-20:]))


def limits_row(report: Report, overrides: dict[str, str]) -> None:
    """The server's batch and body limits in force, each marked default or raised."""
    batch = overrides.get("GRIDPILOT_SCHEDULE_MAX_BATCH")
    body = overrides.get("GRIDPILOT_MAX_BODY_BYTES")
    report.add(
        "server limits: schedule_max_batch / max_body_bytes",
        f"{int(batch or setting_default('schedule_max_batch')):,} ({'raised' if batch else 'default'}) / "
        f"{mib(int(body or setting_default('max_body_bytes')))} ({'raised' if body else 'default'})",
    )


def render(report: Report, options: Options, header: list[str]) -> str:
    """The markdown to paste into docs/benchmarks.md."""
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    lines = [
        f"### gridpilot API benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
        "",
        *[f"{line}  " for line in header],
        f"Server: `gridpilot serve --workers {options.workers}` on PostgreSQL, client and server on the same machine",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {metric} | {value} |" for metric, value in report.rows],
    ]
    if report.notes:
        lines += ["", *[f"- {note}" for note in report.notes]]
    verdict = "all runs valid" if not report.problems else "INVALID: " + "; ".join(report.problems)
    lines += ["", f"Result: {verdict}"]
    return "\n".join(lines)


def main(
    devices: Annotated[int, typer.Option(min=1, max=99_999, help="Devices polled by wrk")] = 1000,
    duration: Annotated[str, typer.Option(help="Length of each wrk run (wrk syntax: 30s, 2m)")] = "30s",
    connections: Annotated[int, typer.Option(min=WRK_THREADS, help="wrk connections")] = 200,
    timeout: Annotated[str, typer.Option(help="wrk's per-request timeout; slower answers count as errors")] = "10s",
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes")] = 2,
    skip_big_batch: Annotated[bool, typer.Option("--skip-big-batch", help="Skip the big batch POST")] = False,
    big_batch: Annotated[int, typer.Option(min=1, max=99_999, help="Schedules in the big batch")] = 10_000,
    port: Annotated[int, typer.Option(help="Server port (0: a free one)")] = 0,
    pace_ms: Annotated[
        int, typer.Option(min=0, help="Also run a steady load: each connection polls every ~PACE_MS ms (0: skip)")
    ] = 1000,
) -> None:
    """Benchmark the gridpilot HTTP API under load on a throwaway PostgreSQL database."""
    duration_seconds(duration)
    duration_seconds(timeout, "--timeout")
    if shutil.which("wrk") is None:
        console.print("[red]wrk is not installed (apt-get install wrk)[/red]")
        raise typer.Exit(2)
    options = Options(devices, duration, connections, timeout, workers, skip_big_batch, big_batch, port, pace_ms)
    header = machine_lines()
    report = Report()
    try:
        run(options, report)
    except BenchError as exc:
        report.problems.append(str(exc).splitlines()[0])
        console.print(f"[red]{exc}[/red]")
    print(render(report, options, header))
    if report.problems:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
