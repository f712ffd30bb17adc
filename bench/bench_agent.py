"""Benchmarks of the device agent: memory and CPU, setpoint start-time jitter, and draining a 24-hour backlog.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as postgres for the PostgreSQL drain):

    .venv/bin/python bench/bench_agent.py                       # every part (about 35 minutes)
    .venv/bin/python bench/bench_agent.py --only memory          # or jitter, or drain
    .venv/bin/python bench/bench_agent.py --help

Everything runs on loopback with the `gridpilot` command a user would run: `gridpilot serve`
(SQLite in a temporary directory, or a throwaway PostgreSQL database), `gridpilot sim inverter`
and `gridpilot agent`. Progress goes to stderr, a markdown results table to stdout, and
--json PATH writes every run's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.agent.processes: the helpers the field tests use

from provenance import git_revision  # noqa: E402

from gridpilot import cli  # noqa: E402
from gridpilot.agent._store import Store  # noqa: E402
from gridpilot.agent._transport import CloudClient, TransportError  # noqa: E402
from gridpilot.agent._uplink import Uplink  # noqa: E402
from tests.agent.processes import Process, Server, free_port, simulator, wait_for  # noqa: E402

console = Console(stderr=True)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
RATE_KW = 2.0
# The server packages: hidden to run `gridpilot agent` as on a Pi with only the `agent` extra installed.
# pydantic stays visible: typer (an `agent` dependency) requires it.
SERVER_PACKAGES = sorted(cli.SERVER_PACKAGES)
AGENT_ONLY_LAUNCHER = f"""
import sys, importlib.abc
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {set(SERVER_PACKAGES)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
sys.argv = ["gridpilot", *sys.argv[1:]]
from gridpilot.cli import main
main()
"""
REFERENCES = {
    "bare interpreter: python -c 'import time; time.sleep(60)'": "",
    "python -c 'import gridpilot.agent'": "import gridpilot.agent",
    "python -c 'import gridpilot.cli' (what `gridpilot agent` imports here)": "import gridpilot.cli",
}


# --- small helpers -----------------------------------------------------------------------------------------------


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max (nearest-rank) of a non-empty list."""
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1], "n": len(ordered)}


def spread(values: list[float], unit: str, digits: int = 1) -> str:
    """'median (min–max)' of the runs, or the single value."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f} {unit}"
    return f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def machine() -> str:
    """CPU model, core count, Python version."""
    model = "unknown CPU"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python {platform.python_version()}"


def clean_env(**extra: str) -> dict[str, str]:
    """The inherited environment without GRIDPILOT_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPILOT_")}
    env.update(extra)
    return env


@dataclass
class Report:
    """Result rows (section, measure, value) and the raw figures of every run."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, measure: str, value: str) -> None:
        self.rows.append((section, measure, value))
        console.print(f"  [dim]{section}[/dim] {measure}: [bold]{value}[/bold]")


# --- processes ---------------------------------------------------------------------------------------------------


def start_server(workdir: Path, database_url: str | None = None) -> Server:
    """`gridpilot serve` (one worker) on SQLite in workdir, or on database_url; started, with the admin key."""
    port = free_port()
    env = {
        "GRIDPILOT_DATA_DIR": str(workdir / "server"),
        "GRIDPILOT_PORT": str(port),
        "GRIDPILOT_LOG_JSON": "false",
        "GRIDPILOT_DEVICE_CONTACT_WRITE_EVERY_S": "0",
    }
    if database_url:
        env["GRIDPILOT_DATABASE_URL"] = database_url
    process = Process("server", ["serve"], workdir / "server.log", env)
    return Server(process, f"http://127.0.0.1:{port}").start()


def show_log_tail(process: Process) -> None:
    """The end of a process's log, on stderr (when a part fails)."""
    console.print(f"[red]{process.name} running: {process.running}; the end of its log:[/red]")
    console.print(process.log()[-3000:], markup=False, highlight=False)


def stop(process: Process) -> None:
    """SIGTERM, then SIGKILL if needed; never raises."""
    with suppress(Exception):
        process.stop(timeout_s=15)
    with suppress(Exception):
        process.kill()


@contextmanager
def busy_core(on: bool) -> Iterator[None]:
    """A `python -c 'while True: pass'` process keeping one core busy, when `on`."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def start_inverter(workdir: Path, name: str) -> tuple[Process, int]:
    """`gridpilot sim inverter` on a free port, answering Modbus."""
    port = free_port()
    inverter = simulator(workdir, port, capacity_kwh=10.0, soc=50)
    inverter.log_path = workdir / f"{name}-simulator.log"
    inverter.start()
    wait_for("the inverter simulator", lambda: _modbus_answers(port), timeout_s=30)
    return inverter, port


def _modbus_answers(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def agent_toml(
    path: Path, *, server: Server, device_id: str, credential: str, inverter_port: int, poll_s: float
) -> Path:
    """An agent.toml with the production timings (except poll_interval_s), talking SunSpec to the simulator."""
    data_dir = path.parent / f"{device_id}-data"
    path.write_text(
        f'server_url = "{server.url}"\ndevice_id = "{device_id}"\ncredential = "{credential}"\n'
        f'data_dir = "{data_dir}"\npoll_interval_s = {poll_s}\n'
        "[battery]\ncapacity_kwh = 10.0\nmax_charge_kw = 5.0\nmax_discharge_kw = 5.0\n"
        "min_soc_pct = 5.0\nmax_soc_pct = 95.0\n"
        f'[driver]\ntype = "sunspec"\nport = {inverter_port}\n'
    )
    return path


def alternating(count: int, length_s: float) -> list[tuple[float, float, int, float]]:
    """`count` back-to-back intervals of length_s, alternating charge (1) and discharge (2) at RATE_KW."""
    return [(i * length_s, (i + 1) * length_s, 1 + i % 2, RATE_KW) for i in range(count)]


def soon(seconds: float) -> datetime:
    """A whole second `seconds` or a little more ahead."""
    return (datetime.now(UTC) + timedelta(seconds=seconds + 1)).replace(microsecond=0)


# --- 1. memory and CPU of the real agent process -----------------------------------------------------------------


@dataclass
class AgentUnderTest:
    """One `gridpilot agent` process with its own device and inverter simulator."""

    label: str
    device_id: str
    process: Process
    inverter: Process
    samples: list[int] = field(default_factory=list)


def reference_rss(report: Report, run: int) -> None:
    """RSS of bare interpreters for comparison: started together, read once they have settled."""
    children = {
        label: subprocess.Popen(
            [sys.executable, "-c", f"{code}\nimport time\nprint('ready', flush=True)\ntime.sleep(60)"],
            env=clean_env(),
            stdout=subprocess.PIPE,
        )
        for label, code in REFERENCES.items()
    }
    try:
        for child in children.values():
            assert child.stdout is not None
            child.stdout.readline()  # imported
        time.sleep(1)
        for label, child in children.items():
            rss = status_kb(child.pid)["VmRSS"]
            report.raw.setdefault("memory", {}).setdefault("references", {}).setdefault(label, []).append(rss)
            console.print(f"  run {run}: {label}: {rss / 1024:.1f} MiB")
    finally:
        for child in children.values():
            child.kill()
            child.wait()


def sample_window(agents: list[AgentUnderTest], seconds: float, what: str) -> dict[str, dict[str, float]]:
    """CPU % of one core (utime+stime over the window) and RSS sampled every second, per agent."""
    for agent in agents:
        agent.samples = []
    assert all(a.process.popen for a in agents)
    start_cpu = {a.label: cpu_seconds(a.process.popen.pid) for a in agents}  # type: ignore[union-attr]
    started = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"))
    with Progress(*columns, console=console, refresh_per_second=1) as progress:
        task = progress.add_task(what, total=seconds)
        while (elapsed := time.monotonic() - started) < seconds:
            for agent in agents:
                agent.samples.append(status_kb(agent.process.popen.pid)["VmRSS"])  # type: ignore[union-attr]
                if not agent.process.running:
                    raise RuntimeError(f"{agent.label} exited: {agent.process.log()[-2000:]}")
            progress.update(task, completed=elapsed)
            time.sleep(min(1.0, max(0.0, seconds - elapsed)))
    wall = time.monotonic() - started
    results = {}
    for agent in agents:
        pid = agent.process.popen.pid  # type: ignore[union-attr]
        used = cpu_seconds(pid) - start_cpu[agent.label]
        memory = status_kb(pid)
        results[agent.label] = {
            "cpu_pct": 100.0 * used / wall,
            "cpu_s": used,
            "window_s": wall,
            "rss_end_kb": memory["VmRSS"],
            "rss_max_sampled_kb": max(agent.samples),
            "hwm_kb": memory["VmHWM"],
        }
    return results


def memory_part(options: argparse.Namespace, report: Report) -> None:
    console.rule("[bold]1. agent memory and CPU (real processes)")
    report.notes.append(
        f"memory/CPU: production timings (control_tick_s 1, setpoint_refresh_s 10, telemetry_interval_s 10, "
        f"heartbeat 60) except poll_interval_s = {options.poll_s:g} (production 300), SunSpec driver against "
        f"`gridpilot sim inverter`, `gridpilot serve` on SQLite; windows of {options.window_s:g} s; both agent "
        "variants ran side by side (each with its own device and simulator)."
    )
    raw = report.raw.setdefault("memory", {"runs": []})
    with tempfile.TemporaryDirectory(prefix="bench-agent-mem-") as tmp:
        workdir = Path(tmp)
        server = start_server(workdir)
        try:
            for run in range(1, options.runs + 1):
                console.print(f"[bold]run {run}/{options.runs}[/bold]")
                reference_rss(report, run)
                raw["runs"].append(memory_run(options, workdir / f"run{run}", server, run))
        except Exception:
            show_log_tail(server.process)
            raise
        finally:
            stop(server.process)
    for label in REFERENCES:
        values = [kb / 1024 for kb in raw["references"][label]]
        report.add("memory", f"RSS, {label}", spread(values, "MiB"))
    for variant in raw["runs"][0]:
        for phase in ("idle", "executing"):
            runs = [r[variant][phase] for r in raw["runs"]]
            report.add(
                "memory",
                f"{variant}, {phase}: CPU % of one core",
                " / ".join(f"{r['cpu_pct']:.2f} %" for r in runs),
            )
            report.add(
                "memory",
                f"{variant}, {phase}: RSS at end of window (max sampled)",
                " / ".join(f"{r['rss_end_kb'] / 1024:.1f} ({r['rss_max_sampled_kb'] / 1024:.1f}) MiB" for r in runs),
            )
        report.add(
            "memory",
            f"{variant}: peak RSS (VmHWM) over the whole run",
            " / ".join(f"{r[variant]['executing']['hwm_kb'] / 1024:.1f} MiB" for r in raw["runs"]),
        )
        report.add(
            "memory",
            f"{variant}: intervals acknowledged 'executed' in the executing window",
            " / ".join(str(r[variant]["executed_acks"]) for r in raw["runs"]),
        )


def memory_run(options: argparse.Namespace, workdir: Path, server: Server, run: int) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    variants = {
        "`gridpilot agent` (this install, server stack present)": ["-m", "gridpilot"],
        "`gridpilot agent`, agent extra only (server packages hidden)": ["-c", AGENT_ONLY_LAUNCHER],
    }
    agents: list[AgentUnderTest] = []
    try:
        for index, (label, prefix) in enumerate(variants.items()):
            device_id = f"bench-mem-{run}-{index}-{secrets.token_hex(3)}"
            credential = server.register(device_id)
            inverter, port = start_inverter(workdir, device_id)
            config = agent_toml(
                workdir / f"{device_id}.toml",
                server=server,
                device_id=device_id,
                credential=credential,
                inverter_port=port,
                poll_s=options.poll_s,
            )
            process = Process(label, ["agent", "--config", str(config)], workdir / f"{device_id}.log")
            process.popen = subprocess.Popen(
                [sys.executable, *prefix, "agent", "--config", str(config)],
                stdout=(workdir / f"{device_id}.log").open("ab"),
                stderr=subprocess.STDOUT,
                env=clean_env(COLUMNS="300"),
            )
            agents.append(AgentUnderTest(label, device_id, process, inverter))
        time.sleep(options.warmup_s)
        idle = sample_window(agents, options.window_s, f"run {run}: idle window")
        lead = options.poll_s * 1.1 + 3
        count = math.ceil((lead + options.window_s + 20) / 10)
        at = soon(lead)
        for agent in agents:
            server.submit(agent.device_id, alternating(count, 10.0), at=at)
        time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds() + 2))
        window_start = datetime.now(UTC)
        executing = sample_window(agents, options.window_s, f"run {run}: executing window")
        window_end = datetime.now(UTC)
        result: dict[str, Any] = {}
        for agent in agents:
            time.sleep(0.5)
            executed = [
                a
                for a in server.acks(agent.device_id)
                if a["status"] == "executed"
                and a.get("started_at")
                and window_start - timedelta(seconds=10) <= datetime.fromisoformat(a["started_at"]) <= window_end
            ]
            result[agent.label] = {
                "idle": idle[agent.label],
                "executing": executing[agent.label],
                "executed_acks": len(executed),
            }
            console.print(
                f"  {agent.label}: idle {idle[agent.label]['cpu_pct']:.2f} % CPU, "
                f"{idle[agent.label]['rss_end_kb'] / 1024:.1f} MiB; executing "
                f"{executing[agent.label]['cpu_pct']:.2f} % CPU, "
                f"{executing[agent.label]['rss_end_kb'] / 1024:.1f} MiB, "
                f"{len(executed)} intervals executed"
            )
        return result
    finally:
        for agent in agents:
            stop(agent.process)
            stop(agent.inverter)


# --- 2. start-time jitter: the agent in a worker process, on the real clock ---------------------------------------


JITTER_WORKER = "--jitter-worker"


async def jitter_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the real Agent (SystemClock) until the schedule is over; return each mode change's lateness."""
    from gridpilot.agent import Agent, AgentConfig
    from gridpilot.agent._logging import configure_agent_logging
    from gridpilot.agent.clock import SystemClock
    from gridpilot.agent.config import DriverConfig
    from gridpilot.agent.drivers.base import Reading, Setpoint
    from gridpilot.agent.drivers.simulated import SimulatedBattery
    from gridpilot.agent.drivers.sunspec import SunSpecDriver
    from gridpilot.protocol.battery import BatteryLimits

    limits = BatteryLimits(
        capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0, min_soc_pct=5.0, max_soc_pct=95.0
    )
    data_dir = Path(spec["data_dir"])
    config = AgentConfig(
        server_url=spec["server_url"],
        device_id=spec["device_id"],
        credential=spec["credential"],
        limits=limits,
        data_dir=data_dir,
        driver=DriverConfig(type=spec["driver"], port=spec.get("inverter_port", 502)),
    )
    configure_agent_logging(data_dir=data_dir, max_bytes=config.log_max_bytes, backups=config.log_backups)
    clock = SystemClock()
    inner: Any
    if spec["driver"] == "sunspec":
        inner = SunSpecDriver("127.0.0.1", spec["inverter_port"], timeout_s=config.driver.timeout_s, now=clock.now)
    else:
        inner = SimulatedBattery(limits, now=clock.now)
    applied: list[tuple[float, int | None]] = []

    class Recording:
        """The driver, recording the wall-clock time at which each apply() completed."""

        async def connect(self) -> None:
            await inner.connect()

        async def read(self) -> Reading:
            return await inner.read()  # type: ignore[no-any-return]

        async def apply(self, setpoint: Setpoint) -> None:
            await inner.apply(setpoint)
            applied.append((time.time(), None if setpoint.mode is None else int(setpoint.mode)))

        async def close(self) -> None:
            await inner.close()

    agent = Agent(config, driver=Recording(), clock=clock)
    stop_event = asyncio.Event()
    runner = asyncio.create_task(agent.run(stop_event))
    await asyncio.sleep(max(0.0, spec["intervals"][-1][1] - time.time() + 1.5))
    stop_event.set()
    await runner
    latencies: list[float] = []
    missing = 0
    for start, end, mode in spec["intervals"]:
        hit = next((t for t, m in applied if m == mode and start <= t < end), None)
        if hit is None:
            missing += 1
        else:
            latencies.append((hit - start) * 1000.0)
    return {"latencies_ms": latencies, "missing": missing, "applies": len(applied)}


def run_jitter(
    server: Server, workdir: Path, options: argparse.Namespace, *, driver: str, busy: bool, label: str
) -> dict[str, Any]:
    device_id = f"bench-jitter-{secrets.token_hex(4)}"
    credential = server.register(device_id)
    inverter: Process | None = None
    spec: dict[str, Any] = {
        "server_url": server.url,
        "device_id": device_id,
        "credential": credential,
        "driver": driver,
        "data_dir": str(workdir / device_id),
    }
    try:
        if driver == "sunspec":
            inverter, spec["inverter_port"] = start_inverter(workdir, device_id)
        at = soon(options.jitter_lead_s)
        intervals = alternating(options.jitter_intervals, options.jitter_interval_s)
        server.submit(device_id, intervals, at=at)
        base = at.timestamp()
        spec["intervals"] = [(base + s, base + e, mode) for s, e, mode, _ in intervals]
        total = spec["intervals"][-1][1] - time.time() + 2
        with busy_core(busy):
            worker = subprocess.Popen(
                [sys.executable, __file__, JITTER_WORKER, json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=(workdir / f"{device_id}.worker.log").open("ab"),
                env=clean_env(),
            )
            columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console, refresh_per_second=1) as progress:
                task = progress.add_task(label, total=total)
                started = time.monotonic()
                while worker.poll() is None:
                    progress.update(task, completed=time.monotonic() - started)
                    time.sleep(1)
            output = worker.stdout.read() if worker.stdout else b""
        if worker.returncode != 0:
            raise RuntimeError(f"jitter worker failed: {(workdir / f'{device_id}.worker.log').read_text()[-3000:]}")
        result: dict[str, Any] = json.loads(output)
        result["stats"] = percentiles(result["latencies_ms"]) if result["latencies_ms"] else {}
        stats = result["stats"]
        console.print(
            f"  {label}: p50 {stats.get('p50', float('nan')):.1f} ms, p90 {stats.get('p90', float('nan')):.1f}, "
            f"p99 {stats.get('p99', float('nan')):.1f}, max {stats.get('max', float('nan')):.1f} ms over "
            f"{stats.get('n', 0)} intervals, {result['missing']} without their setpoint"
        )
        return result
    finally:
        if inverter is not None:
            stop(inverter)


def jitter_part(options: argparse.Namespace, report: Report) -> None:
    console.rule("[bold]2. start-time jitter on the real clock")
    report.notes.append(
        f"jitter: the real Agent (SystemClock, default timings) in its own process against `gridpilot serve` "
        f"(SQLite); {options.jitter_intervals} back-to-back intervals of {options.jitter_interval_s:g} s alternating "
        "charge/discharge; lateness = wall-clock time the driver's apply() of the interval's mode returned − "
        "the interval's start. 'other core busy' = a `python -c 'while True: pass'` process during the run."
    )
    raw = report.raw.setdefault("jitter", {})
    cases = [
        ("simulated", False, "SimulatedBattery, machine idle"),
        ("simulated", True, "SimulatedBattery, other core busy"),
    ]
    cases = [case for case in cases for _ in range(options.runs)]
    if options.modbus_runs:
        cases += [
            ("sunspec", False, "SunSpec over Modbus to `gridpilot sim inverter`, machine idle")
        ] * options.modbus_runs
    with tempfile.TemporaryDirectory(prefix="bench-agent-jitter-") as tmp:
        workdir = Path(tmp)
        server = start_server(workdir)
        try:
            for driver, busy, label in cases:
                raw.setdefault(label, []).append(
                    run_jitter(server, workdir, options, driver=driver, busy=busy, label=label)
                )
        except Exception:
            show_log_tail(server.process)
            raise
        finally:
            stop(server.process)
    for label, runs in raw.items():
        for measure in ("p50", "p90", "p99", "max"):
            report.add(
                "jitter",
                f"{label}: {measure}",
                " / ".join(f"{r['stats'].get(measure, float('nan')):.1f} ms" for r in runs),
            )
        report.add(
            "jitter",
            f"{label}: intervals measured (without their setpoint)",
            " / ".join(f"{r['stats'].get('n', 0)} ({r['missing']})" for r in runs),
        )


# --- 3. 24-hour outage backlog drain -----------------------------------------------------------------------------


class CountingTransport(httpx.AsyncBaseTransport):
    """The default httpx transport, counting what the server accepted and when each telemetry point was confirmed.

    A transport rather than a CloudClient subclass, so the real CloudClient runs unchanged.
    """

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.acks_accepted = 0
        self.acks_rejected = 0
        self.telemetry_accepted = 0
        self.telemetry_duplicates = 0
        self.requests = 0
        self.confirmed_at: dict[str, float] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method != "POST" or response.status_code >= 300:
            return response
        await response.aread()
        confirmed = time.monotonic()
        self.requests += 1
        body = json.loads(response.content)
        if request.url.path.endswith("/telemetry"):
            self.telemetry_accepted += body.get("accepted", 0)
            self.telemetry_duplicates += body.get("duplicates", 0)
            for point in json.loads(request.content)["points"]:
                self.confirmed_at.setdefault(point["at"], confirmed)
        elif request.url.path.endswith("/acks"):
            self.acks_accepted += body.get("accepted", 0)
            self.acks_rejected += len(body.get("rejected", []))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def telemetry_point(at: datetime, index: int) -> dict[str, Any]:
    """A point shaped like the controller's."""
    return {
        "at": at.isoformat(),
        "soc_pct": round(50 + 20 * math.sin(index / 3600), 3),
        "power_kw": 2.0 if (index // 900) % 2 else -2.0,
        "state": "charging" if (index // 900) % 2 else "discharging",
        "voltage_v": 400.0,
        "temperature_c": 27.0,
        "soh_pct": 100.0,
    }


def fill_store(path: Path, interval_ids: list[int], seconds: int) -> int:
    """One telemetry point a second over the past `seconds`, and an ack a minute; the last seq of the backlog."""
    store = Store(path)
    store.close()
    now = datetime.now(UTC).replace(microsecond=0)
    begin = now - timedelta(seconds=seconds)
    rows: list[tuple[str, float, str]] = []
    per_ack = seconds // len(interval_ids)
    for i in range(seconds):
        at = begin + timedelta(seconds=i)
        rows.append(("telemetry", at.timestamp(), json.dumps(telemetry_point(at, i))))
        if i % per_ack == per_ack - 1 and (i // per_ack) < len(interval_ids):
            interval_id = interval_ids[i // per_ack]
            ack = {
                "ack_id": str(uuid.uuid4()),
                "interval_id": interval_id,
                "status": "executed",
                "started_at": (at - timedelta(seconds=per_ack)).isoformat(),
                "ended_at": at.isoformat(),
                "energy_kwh": 0.033333,
                "soc_pct": 50.0,
                "message": None,
            }
            rows.append(("ack", at.timestamp(), json.dumps(ack)))
    with sqlite3.connect(path, isolation_level=None) as db:  # one bulk transaction: 86,400 enqueue() calls fsync each
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO outbox (kind, created_at, payload) VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
        last = int(db.execute("SELECT MAX(seq) FROM outbox").fetchone()[0])
    db.close()
    return last


async def drain(
    *, server: Server, device_id: str, credential: str, store_path: Path, backlog_last_seq: int, batch: int
) -> dict[str, Any]:
    """Drain the store with the real Uplink while a live point is queued every second; timings and counts."""
    store = Store(store_path)
    counts = CountingTransport()
    client = CloudClient(
        server_url=server.url, device_id=device_id, credential=credential, timeout_s=10.0, transport=counts
    )
    uplink = Uplink(store=store, client=client, batch=batch)
    stats = store.outbox_stats()
    live_enqueued: dict[str, float] = {}
    backlog_done = asyncio.Event()

    async def live() -> None:
        while not backlog_done.is_set():
            now = datetime.now(UTC)
            point = telemetry_point(now, len(live_enqueued))
            store.enqueue("telemetry", point, now)
            live_enqueued[point["at"]] = time.monotonic()
            await asyncio.sleep(1.0)

    def remaining() -> int:
        return int(store._db.execute("SELECT COUNT(*) FROM outbox WHERE seq <= ?", (backlog_last_seq,)).fetchone()[0])

    rounds = retries = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    started = time.monotonic()
    producer = asyncio.create_task(live())
    try:
        with Progress(*columns, console=console, refresh_per_second=2) as progress:
            task = progress.add_task(f"drain, batch {batch}", total=stats.depth)
            while True:
                try:
                    sent = await uplink.drain_round(datetime.now(UTC))
                except TransportError as exc:
                    retries += 1
                    console.print(f"[yellow]transport error, retrying: {exc}[/yellow]")
                    await asyncio.sleep(1.0)
                    continue
                rounds += 1
                left = remaining()
                progress.update(task, completed=stats.depth - left)
                if left == 0:
                    break
                if not sent:
                    await asyncio.sleep(0.1)
            backlog_s = time.monotonic() - started
            backlog_done.set()
            await producer
            while store.outbox_stats().depth:  # the last live points
                await uplink.drain_round(datetime.now(UTC))
    finally:
        backlog_done.set()
        producer.cancel()
        with suppress(asyncio.CancelledError):
            await producer
        await client.aclose()
    delays = [
        (counts.confirmed_at[at] - queued) * 1000.0 for at, queued in live_enqueued.items() if at in counts.confirmed_at
    ]
    dead = store.outbox_stats().dead_letters
    store.close()
    return {
        "batch": batch,
        "records": stats.depth,
        "acks": stats.acks,
        "telemetry": stats.telemetry,
        "seconds": backlog_s,
        "records_per_s": stats.depth / backlog_s,
        "rounds": rounds,
        "requests": counts.requests,
        "retries": retries,
        "acks_accepted": counts.acks_accepted,
        "acks_rejected": counts.acks_rejected,
        "telemetry_accepted": counts.telemetry_accepted,
        "telemetry_duplicates": counts.telemetry_duplicates,
        "live_points": len(live_enqueued),
        "live_delivered": len(delays),
        "live_delay_ms": percentiles(delays) if delays else {},
        "dead_letters": dead,
    }


def prepare_device(server: Server, count: int) -> tuple[str, str, list[int]]:
    """A device with `count` one-minute intervals starting in an hour: its id, credential and interval ids."""
    device_id = f"bench-drain-{secrets.token_hex(4)}"
    credential = server.register(device_id)
    server.submit(device_id, alternating(count, 60.0), at=soon(3600))
    with server.client(credential) as http:
        response = http.get(f"/api/v1/devices/{device_id}/schedule")
    response.raise_for_status()
    ids = [int(item["id"]) for item in response.json()["intervals"]]
    if len(ids) != count:
        raise RuntimeError(f"expected {count} intervals in the device view, got {len(ids)}")
    return device_id, credential, ids


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated; dropped on exit."""
    name = f"gridpilot_bench_agent_{secrets.token_hex(4)}"

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        subprocess.run(
            [sys.executable, "-m", "gridpilot", "migrate"],
            env=clean_env(GRIDPILOT_DATABASE_URL=url),
            check=True,
            capture_output=True,
            timeout=300,
        )
        console.print(f"database {name} created and migrated")
        yield url
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        console.print(f"database {name} dropped")


def drain_part(options: argparse.Namespace, report: Report) -> None:
    console.rule("[bold]3. 24-hour outage backlog drain")
    report.notes.append(
        f"drain: agent store filled with {options.acks} acks and {options.points} telemetry points (one a second over "
        f"the past {options.points} s), drained by gridpilot.agent._uplink.Uplink with the real CloudClient "
        "(10 s timeout) against "
        "`gridpilot serve` (one worker); a live point is queued every second during the drain."
    )
    raw = report.raw.setdefault("drain", {})
    for database in options.databases:
        with tempfile.TemporaryDirectory(prefix="bench-agent-drain-") as tmp:
            workdir = Path(tmp)
            with nullcontext() if database == "sqlite" else postgres_database() as url:
                server = start_server(workdir, url)
                try:
                    for batch in options.batches:
                        for run in range(1, options.runs + 1):
                            device_id, credential, ids = prepare_device(server, options.acks)
                            store_path = workdir / f"{device_id}.db"
                            last = fill_store(store_path, ids, options.points)
                            result = asyncio.run(
                                drain(
                                    server=server,
                                    device_id=device_id,
                                    credential=credential,
                                    store_path=store_path,
                                    backlog_last_seq=last,
                                    batch=batch,
                                )
                            )
                            console.print(
                                f"  {database}, batch {batch}, run {run}: {result['records']} records in "
                                f"{result['seconds']:.1f} s = {result['records_per_s']:.0f}/s; live max delay "
                                f"{result['live_delay_ms'].get('max', float('nan')):.0f} ms; accepted acks "
                                f"{result['acks_accepted']} (refused {result['acks_rejected']}), telemetry "
                                f"{result['telemetry_accepted']} (+{result['telemetry_duplicates']} duplicates)"
                            )
                            raw.setdefault(f"{database}, batch {batch}", []).append(result)
                except Exception:
                    show_log_tail(server.process)
                    raise
                finally:
                    stop(server.process)
    for label, runs in raw.items():
        report.add("drain", f"{label}: time to drain", " / ".join(f"{r['seconds']:.1f} s" for r in runs))
        report.add("drain", f"{label}: records/s", " / ".join(f"{r['records_per_s']:.0f}" for r in runs))
        report.add(
            "drain",
            f"{label}: live point, enqueue → confirmed, p50 / max",
            " ; ".join(
                f"{r['live_delay_ms'].get('p50', 0):.0f} / {r['live_delay_ms'].get('max', 0):.0f} ms" for r in runs
            ),
        )
        report.add(
            "drain",
            f"{label}: accepted by the server (acks refused; telemetry duplicates; dead letters)",
            " ; ".join(
                f"{r['acks_accepted']} acks ({r['acks_rejected']}), {r['telemetry_accepted']} points "
                f"({r['telemetry_duplicates']}), {r['dead_letters']}"
                for r in runs
            ),
        )


# --- main ----------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["memory", "jitter", "drain"], action="append", help="run only these parts")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (default 3)")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this JSON file")
    memory = parser.add_argument_group("1. memory and CPU")
    memory.add_argument("--window-s", type=float, default=60.0, help="length of each CPU window (default 60)")
    memory.add_argument("--warmup-s", type=float, default=15.0, help="wait after the agent starts (default 15)")
    memory.add_argument("--poll-s", type=float, default=5.0, help="the agent's poll_interval_s (default 5; prod 300)")
    jitter = parser.add_argument_group("2. start-time jitter")
    jitter.add_argument("--jitter-intervals", type=int, default=200, help="intervals per run (default 200)")
    jitter.add_argument("--jitter-interval-s", type=float, default=0.5, help="length of each interval (default 0.5)")
    jitter.add_argument("--jitter-lead-s", type=float, default=6.0, help="schedule start after submission (default 6)")
    jitter.add_argument("--modbus-runs", type=int, default=1, help="runs over Modbus to the simulator (default 1)")
    drain = parser.add_argument_group("3. backlog drain")
    drain.add_argument("--acks", type=int, default=1440, help="acks in the backlog (default 1440)")
    drain.add_argument("--points", type=int, default=86_400, help="telemetry points in the backlog (default 86400)")
    drain.add_argument("--batches", type=int, nargs="+", default=[500, 2000], help="upload_batch values (500 2000)")
    drain.add_argument(
        "--databases",
        nargs="+",
        choices=["sqlite", "postgres"],
        default=["sqlite", "postgres"],
        help="server databases",
    )
    return parser.parse_args(argv)


def print_report(report: Report, command: str) -> None:
    print(f"Command: `{command}` (commit `{git_revision()}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n")
    print(f"Machine: {machine()}\n")
    print("| part | measure | runs |")
    print("| --- | --- | --- |")
    for section, measure, value in report.rows:
        print(f"| {section} | {measure} | {value} |")
    print()
    for note in report.notes:
        print(f"- {note}")


def main(argv: list[str]) -> int:
    if argv[:1] == [JITTER_WORKER]:
        print(json.dumps(asyncio.run(jitter_worker(json.loads(argv[1])))))
        return 0
    options = parse_args(argv)
    parts = options.only or ["memory", "jitter", "drain"]
    report = Report()
    command = " ".join([".venv/bin/python", "bench/bench_agent.py", *argv])
    console.print(f"[bold]{command}[/bold] at {git_revision()} on {machine()}")
    with suppress(KeyboardInterrupt):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        if "memory" in parts:
            memory_part(options, report)
        if "jitter" in parts:
            jitter_part(options, report)
        if "drain" in parts:
            drain_part(options, report)
    finally:  # what was measured before a failure is still reported
        print_report(report, command)
        if options.json:
            report.raw.update(command=command, commit=git_revision(), machine=machine(), notes=report.notes)
            options.json.write_text(json.dumps(report.raw, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
