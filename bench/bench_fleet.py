"""Schedule push and the ack path at fleet scale: real agents, a private Mosquitto, PostgreSQL, optional RabbitMQ.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as postgres; RabbitMQ on 127.0.0.1:5672 guest/guest
for --with-rabbit; the `mosquitto` binary on the PATH):

    .venv/bin/python bench/bench_fleet.py --devices 1000 [--with-rabbit --workers 2] [--phase push --phase load]

Everything runs on this machine: a throwaway database, a private Mosquitto on a free port, `gridpilot serve`,
`gridpilot worker` processes, the fleet (`gridpilot.simulator.fleet.run_fleet` in a child process that splits
the devices over --fleet-processes processes) and a load generator. Progress goes to stderr, a table to stdout.
Every process and the database are removed on exit, also after a failure or Ctrl-C.

Phases (each once per run, in this order):
- push:   POST one batch of N one-interval schedules; times to 99 % / 100 % seen by an independent MQTT
          subscriber, by the agents (progress counters, 1-s resolution) and in schedules.delivered_at
          (the agent's heartbeat after a new view), then the acks of that interval in the database.
- load:   a load generator publishes --load-messages acks (one record each, real interval ids, each on its
          owner's topic) over --load-connections MQTT connections as fast as it can; rows/s committed.
- outage: another batch, the broker stopped (SIGTERM, persistence on) for --outage-s while the interval ends,
          then restarted; acks lost and the time from the restart to all of them stored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridpilot_process import gridpilot_command, server_environment
from provenance import free_port, git_revision, run_text
from throwaway_pg import throwaway_database

from gridpilot.messaging.mosquitto import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES

HOST = "127.0.0.1"
AMQP_URL = f"amqp://guest:guest@{HOST}:5672/"
PREFIX = "gridpilot/v1"
LOAD_MARK = "bench-load"
ROOT = Path(__file__).resolve().parent.parent
WORKER_LOG = {"GRIDPILOT_LOG_LEVEL": "INFO"}
SUBSCRIBED = "consuming device messages from mqtt://"


def log(message: str) -> None:
    """Progress on stderr (rich when available)."""
    try:
        from rich.console import Console

        Console(stderr=True).print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)
    except ImportError:  # pragma: no cover
        print(message, file=sys.stderr, flush=True)


class BenchError(Exception):
    """The benchmark cannot go on."""


# --- small helpers ----------------------------------------------------------------------------------------------


def wait_listening(port: int, timeout_s: float = 20) -> None:
    """Until something accepts connections on the port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise BenchError(f"nothing listens on port {port} after {timeout_s} s")


def machine() -> str:
    """CPU count, model, RAM, kernel, Python."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    memory = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory / 1024**2:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; simulator, broker, server, workers and PostgreSQL all on this host"
    )


def other_load() -> list[str]:
    """Busy processes that are not ours (e.g. a test suite), from one `ps` sample."""
    output = run_text(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"]).splitlines()[1:]
    mine = {os.getpid()}
    busy = []
    for line in output[:15]:
        parts = line.split(None, 2)
        if len(parts) == 3 and int(parts[0]) not in mine and float(parts[1]) >= 20 and "bench_fleet" not in parts[2]:
            busy.append(f"{parts[2][:80]} ({parts[1]} % CPU)")
    return busy


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process and its live descendants."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


SERVICES = {"postgresql": "postgres", "rabbitmq": "beam.smp"}  # machine services: CPU summed over their processes


def service_cpu_seconds(command: str) -> float:
    """utime+stime of every process whose command name is `command` (PostgreSQL's backends, RabbitMQ's VM)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            head, tail = stat.read_text().rsplit(")", 1)
            if head.split("(", 1)[1] == command:
                fields = tail.split()
                total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def descendants(pid: int) -> list[int]:
    """All live descendants (Linux /proc)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [p for c in children for p in (c, *descendants(c))]


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, MiB."""
    total = 0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, StopIteration):
            line = next(x for x in Path(f"/proc/{p}/status").read_text().splitlines() if x.startswith("VmRSS"))
            total += int(line.split()[1])
    return total / 1024


def percentile_time(offsets: list[float], fraction: float, expected: int) -> float | None:
    """The time by which `fraction` of `expected` events had happened (None if they never did)."""
    needed = max(1, round(expected * fraction + 1e-9))
    ordered = sorted(offsets)
    return ordered[needed - 1] if len(ordered) >= needed else None


def fmt_s(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f} s"


# --- processes --------------------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Procs:
    """Every child this benchmark started, stopped in reverse order (process groups) whatever happens."""

    directory: Path
    items: list[Proc] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> Proc:
        log_path = self.directory / f"{name}.log"
        with log_path.open("ab") as out:
            popen = subprocess.Popen(
                command,
                env=env,
                stdout=kwargs.pop("stdout", out),
                stderr=out,
                start_new_session=True,
                **kwargs,
            )
        proc = Proc(name, popen, log_path)
        self.items.append(proc)
        return proc

    def stop(self, proc: Proc, timeout_s: float = 30) -> None:
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log(f"[yellow]{proc.name} did not stop within {timeout_s} s; killing it[/yellow]")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait()
        if proc in self.items:
            self.items.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.items)):
            self.stop(proc)


def gridpilot(args: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [gridpilot_command(), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"gridpilot {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def mosquitto_conf(directory: Path, port: int, max_queued: int | None, max_inflight: int | None) -> Path:
    """Anonymous, loopback, persistence on (so a stop with SIGTERM keeps retained views and queued messages).

    The autosave interval is Mosquitto's own default, as `gridpilot broker config` leaves it (an interval of 5 s
    could have the broker write its whole store in the middle of a push).
    """
    persistence = directory / "mosquitto-data"
    persistence.mkdir(exist_ok=True)
    directory.chmod(0o755)  # mosquitto started as root drops to its own user, which must write here
    persistence.chmod(0o777)
    lines = [
        f"listener {port} {HOST}",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {persistence}/",
        "autosave_interval 1800",
    ]
    if max_queued is not None:
        lines.append(f"max_queued_messages {max_queued}")
    if max_inflight is not None:
        lines.append(f"max_inflight_messages {max_inflight}")
    conf = directory / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


# --- the database -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    with throwaway_database("gridpilot_bench_fleet") as name:
        log(f"database [bold]{name}[/bold] created")
        try:
            yield name
        finally:
            log(f"database {name} dropped")


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- children: the fleet and the load generator (this file run with --fleet-child / --load-child) ---------------


def fleet_child(config_path: str) -> None:
    """Run the fleet until SIGTERM; one JSON line of progress totals on stdout every second."""
    import logging

    from gridpilot.simulator.fleet import FleetOptions, run_fleet

    config = json.loads(Path(config_path).read_text())
    logging.basicConfig(level=logging.ERROR)
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    options = FleetOptions(
        devices=len(config["credentials"]),
        server_url=config["server_url"],
        data_dir=Path(config["data_dir"]),
        mqtt_url=config["mqtt_url"],
        processes=config["processes"],
        poll_interval_s=3600.0,
        control_tick_s=config["control_tick_s"],
        telemetry_interval_s=config["telemetry_interval_s"],
        heartbeat_interval_s=config["heartbeat_interval_s"],
    )

    def report(totals: dict[str, int]) -> None:
        print(json.dumps({"t": time.time(), **totals}), flush=True)

    run_fleet(options, config["credentials"], report, None)


def load_child(config_path: str) -> None:
    """Publish acks (QoS 1) as fast as possible over several connections; print what the broker confirmed.

    One paho client per connection, each with its network thread and 200 messages in flight; every
    message is handed to paho at once and paho sends the next as the broker confirms one. A task per
    message through aiomqtt cost the generator a core at 10,000 msg/s, taken from the path it measures.
    """
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from gridpilot.messaging.buffered_paho import BufferedClient
    from gridpilot.protocol.mqtt import Channel, device_topic, encode

    config = json.loads(Path(config_path).read_text())
    pairs: list[list[Any]] = config["pairs"]
    total, connections, port = config["messages"], config["connections"], config["port"]
    now = datetime.now(UTC).isoformat()
    lock = threading.Lock()
    outcome = {"confirmed": 0, "failed": 0}
    finished = threading.Event()

    def on_publish(_client: object, _data: object, _mid: int, reason: Any, _properties: object) -> None:
        with lock:
            outcome["failed" if reason.is_failure else "confirmed"] += 1
            if outcome["confirmed"] + outcome["failed"] == total:
                finished.set()

    clients = []
    for index in range(connections):
        client = BufferedClient(CallbackAPIVersion.VERSION2, f"bench-load-{index}-{os.getpid()}", protocol=paho.MQTTv5)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.on_publish = on_publish
        client.connect(HOST, port)
        client.loop_start()
        clients.append(client)
    started = time.time()
    for n in range(total):
        device_id, interval_id = pairs[n % len(pairs)]
        record = {
            "ack_id": str(uuid.uuid4()),
            "interval_id": interval_id,
            "status": "executed",
            "started_at": now,
            "ended_at": now,
            "energy_kwh": 0.1,
            "soc_pct": 50.0,
            "message": LOAD_MARK,
        }
        clients[n % connections].publish(device_topic(PREFIX, device_id, Channel.ACKS), encode("acks", [record]), qos=1)
    finished.wait(timeout=600)
    result = {"started": started, "finished": time.time(), **outcome}
    for client in clients:
        client.disconnect()
        client.loop_stop()
    print(json.dumps(result), flush=True)


# --- the parent's view of the fleet -----------------------------------------------------------------------------


@dataclass
class Fleet:
    """The fleet's child processes and their latest progress, summed (read by a thread per child from its stdout)."""

    procs: list[Proc]
    latest: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    _each: dict[int, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self) -> None:
        def read(index: int, proc: Proc) -> None:
            assert proc.popen.stdout is not None
            for raw in proc.popen.stdout:
                with contextlib.suppress(ValueError), self._lock:
                    self._each[index] = json.loads(raw)
                    totals: dict[str, Any] = {}
                    for each in self._each.values():
                        for key, value in each.items():
                            totals[key] = totals.get(key, 0) + value if key != "t" else value
                    totals["seen"] = time.time()
                    self.latest = totals
                    self.history.append(totals)

        for index, proc in enumerate(self.procs):
            threading.Thread(target=read, args=(index, proc), daemon=True).start()

    def exited(self) -> Proc | None:
        return next((p for p in self.procs if p.popen.poll() is not None), None)

    def rss_mib(self) -> float:
        return sum(rss_mib(p.popen.pid) for p in self.procs)

    def first_time(self, key: str, at_least: int, since: float) -> float | None:
        for totals in self.history:
            if totals["seen"] >= since and totals.get(key, 0) >= at_least:
                return float(totals["seen"])
        return None


def wait_until(what: str, probe: Callable[[], bool], timeout_s: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(every_s)
    log(f"[yellow]gave up waiting for {what} after {timeout_s:.0f} s[/yellow]")
    return False


class Observer:
    """An independent MQTT subscriber on every device's schedule topic: when did the broker deliver each version."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.seen: dict[tuple[str, int], float] = {}
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-observer-{os.getpid()}")
        self._client.on_message = self._on_message
        self._client.on_connect = lambda client, *_: client.subscribe(f"{PREFIX}/devices/+/schedule", qos=1)
        self._client.connect(HOST, port)
        self._client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        arrived = time.time()
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(message.payload)["data"]
            self.seen.setdefault((data["device_id"], int(data["version"])), arrived)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


# --- the benchmark ----------------------------------------------------------------------------------------------


@dataclass
class Results:
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (phase, metric, value)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, phase: str, metric: str, value: str, raw: Any = None) -> None:
        self.rows.append((phase, metric, value))
        self.data[f"{phase}: {metric}"] = raw if raw is not None else value
        log(f"  {phase} — {metric}: [bold]{value}[/bold]")


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Procs, database: str, results: Results) -> None:
        self.args, self.procs, self.database, self.results = args, procs, database, results
        self.dir = procs.directory
        self.broker_port = free_port()
        self.server_port = free_port()
        self.server_url = f"http://{HOST}:{self.server_port}"
        self.mqtt_url = f"mqtt://{HOST}:{self.broker_port}"
        self.prefix = f"bench_fleet_{secrets.token_hex(3)}"
        self.conf = mosquitto_conf(self.dir, self.broker_port, args.max_queued, args.max_inflight)
        self.broker: Proc | None = None
        self.fleet: Fleet | None = None
        self.workers: list[Proc] = []
        self.server: Proc | None = None
        self.submissions = 0
        extra = {"GRIDPILOT_MQTT_URL": self.mqtt_url, "GRIDPILOT_MQTT_PREFIX": PREFIX}
        extra["GRIDPILOT_SCHEDULE_MAX_BATCH"] = str(max(args.devices, 10_000))
        extra["GRIDPILOT_MQTT_CLIENT_ID"] = f"gridpilot-worker-{self.prefix}"
        if args.with_rabbit:
            extra.update(GRIDPILOT_AMQP_URL=AMQP_URL, GRIDPILOT_AMQP_PREFIX=self.prefix)
        if args.batch_size:
            extra["GRIDPILOT_WORKER_BATCH_SIZE"] = str(args.batch_size)
        self.env = server_environment(database, self.dir / "server-data", **extra)

    # set-up

    def start_broker(self) -> None:
        self.broker = self.procs.start("mosquitto", ["mosquitto", "-c", str(self.conf)])
        wait_listening(self.broker_port)

    def stop_broker(self) -> None:
        assert self.broker is not None
        self.procs.stop(self.broker)
        self.broker = None

    def start_server(self) -> None:
        command = [gridpilot_command(), "serve", "--host", HOST, "--port", str(self.server_port), "--no-migrate"]
        self.server = self.procs.start("server", [*command, "--workers", str(self.args.server_workers)], self.env)
        import httpx

        def live() -> bool:
            assert self.server is not None
            if self.server.popen.poll() is not None:
                raise BenchError(f"the server exited:\n{self.server.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.server_url}/health/live", timeout=1).status_code == 200
            return False

        if not wait_until("the server", live, 60, 0.2):
            raise BenchError(f"the server did not start:\n{self.server.tail()}")

    def start_workers(self) -> None:
        self.workers.append(self.start_mqtt_worker())
        if self.args.with_rabbit:
            for n in range(1, self.args.workers):
                command = [gridpilot_command(), "worker", "--no-mqtt"]
                self.workers.append(self.procs.start(f"worker-{n + 1}", command, self.env))
        self.wait_subscribed(self.workers[0])
        time.sleep(1)
        for worker in self.workers:
            if worker.popen.poll() is not None:
                raise BenchError(f"{worker.name} exited:\n{worker.tail()}")

    def start_mqtt_worker(self) -> Proc:
        """The worker holding the MQTT session, logging at INFO so that its subscription shows (start-up lines only)."""
        return self.procs.start("worker-mqtt", [gridpilot_command(), "worker"], {**self.env, **WORKER_LOG})

    def wait_subscribed(self, worker: Proc) -> None:
        """Until the MQTT worker's session is subscribed: stopped earlier, the broker would keep nothing for it."""

        def subscribed() -> bool:
            if worker.popen.poll() is not None:
                raise BenchError(f"{worker.name} exited:\n{worker.tail()}")
            return SUBSCRIBED in worker.log_path.read_text(errors="replace")

        if not wait_until("the MQTT worker's subscription", subscribed, 60, 0.2):
            raise BenchError(f"the MQTT worker did not subscribe:\n{worker.tail()}")

    def provision(self, admin_key: str) -> dict[str, str]:
        from gridpilot.simulator.fleet import FleetOptions, provision

        options = FleetOptions(devices=self.args.devices, server_url=self.server_url, data_dir=self.dir / "fleet")
        done = 0
        started = time.monotonic()

        def count(n: int) -> None:
            nonlocal done
            done += n
            if done % 1000 == 0:
                log(f"registered {done} of {self.args.devices}")

        credentials = asyncio.run(provision(options, admin_key, count))
        elapsed = time.monotonic() - started
        self.results.add(
            "setup",
            f"register {len(credentials)} devices through the API (16 concurrent)",
            f"{elapsed:.1f} s ({len(credentials) / elapsed:.0f}/s)",
            elapsed,
        )
        return credentials

    def start_fleet(self, credentials: dict[str, str]) -> None:
        config = {
            "credentials": credentials,
            "server_url": self.server_url,
            "data_dir": str(self.dir / "fleet"),
            "mqtt_url": self.mqtt_url,
            "processes": self.args.fleet_processes,
            "control_tick_s": self.args.control_tick_s,
            "telemetry_interval_s": 600.0,
            "heartbeat_interval_s": 600.0,
            "host": HOST,
            "port": self.broker_port,
        }
        pipe: dict[str, Any] = {"cwd": str(ROOT), "stdout": subprocess.PIPE}
        path = self.dir / "fleet.json"
        path.write_text(json.dumps(config))
        if self.args.light:
            count = self.args.fleet_processes
            script = str(Path(__file__).resolve().parent / "light_fleet.py")
            procs = [
                self.procs.start(f"fleet-{i}", [sys.executable, script, str(path), str(i), str(count)], **pipe)
                for i in range(count)
            ]
        else:
            command = [sys.executable, str(Path(__file__).resolve()), "--fleet-child", str(path)]
            procs = [self.procs.start("fleet", command, **pipe)]
        self.fleet = Fleet(procs)
        self.fleet.follow()
        started = time.monotonic()
        n: int = self.args.devices

        def connected() -> bool:
            assert self.fleet is not None
            if (gone := self.fleet.exited()) is not None:
                raise BenchError(f"the fleet exited:\n{gone.tail()}")
            connected_count: int = self.fleet.latest.get("mqtt_connected", 0)
            return connected_count >= n

        ok = wait_until("every agent on MQTT", connected, self.args.connect_timeout_s, 1)
        elapsed = time.monotonic() - started
        have = self.fleet.latest.get("mqtt_connected", 0)
        self.results.add(
            "setup",
            f"fleet start until {n} agents connected to MQTT ({self.args.fleet_processes} processes)",
            f"{elapsed:.1f} s ({have} connected)",
            elapsed,
        )
        self.results.add("setup", "fleet RSS (all its processes)", f"{self.fleet.rss_mib():.0f} MiB")
        if not ok:
            raise BenchError(f"only {have} of {n} agents connected to MQTT:\n{procs[0].tail()}")

    # measurements

    def submit(self, credentials: dict[str, str], lead_s: float, length_s: float) -> tuple[float, datetime, datetime]:
        import httpx

        now = datetime.now(UTC).replace(microsecond=0)
        start = now + timedelta(seconds=lead_s)
        end = start + timedelta(seconds=length_s)
        body = [
            {
                "device_id": device_id,
                "intervals": [{"start": start.isoformat(), "end": end.isoformat(), "mode": 1, "rate_kw": 2.0}],
            }
            for device_id in credentials
        ]
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        posted = time.time()
        response = httpx.post(f"{self.server_url}/api/v1/schedules", json=body, headers=headers, timeout=300)
        if response.status_code != 201:
            raise BenchError(f"the batch was refused: {response.status_code} {response.text[:500]}")
        self.submissions += 1
        return posted, start, end

    async def query(self, sql: str, *params: Any) -> list[Any]:
        import asyncpg

        connection = await asyncpg.connect(f"postgresql://postgres@{HOST}:5432/{self.database}")
        try:
            return list(await connection.fetch(sql, *params))
        finally:
            await connection.close()

    def q(self, sql: str, *params: Any) -> list[Any]:
        return asyncio.run(self.query(sql, *params))

    def phase_push(self, credentials: dict[str, str], phase: str = "push") -> None:
        n: int = self.args.devices
        observer = Observer(self.broker_port)
        time.sleep(2)  # the retained views of earlier versions arrive first
        lead = self.args.lead_s
        cpu_before = {p.name: cpu_seconds(p.popen.pid) for p in self.procs.items}
        posted, _, end = self.submit(credentials, lead, self.args.interval_s)
        posted_dt = datetime.fromtimestamp(posted, UTC)
        answered = time.time() - posted
        self.results.add(phase, f"POST of {n} one-interval schedules, answered (201)", f"{answered:.2f} s", answered)
        version = self.submissions  # every device gets one new version per submission

        def delivered() -> bool:
            rows = self.q(
                "SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL) FROM schedules WHERE created_at >= $1",
                posted_dt - timedelta(seconds=1),
            )
            return int(rows[0][0]) >= n

        wait_until("every schedule delivered", delivered, lead + 20, 0.5)
        rows = self.q(
            "SELECT device_id, version, created_at, sent_at, delivered_at FROM schedules WHERE created_at >= $1",
            posted_dt - timedelta(seconds=1),
        )
        created = [(as_utc(r["created_at"]).timestamp() - posted) for r in rows]
        sent = [(as_utc(r["sent_at"]).timestamp() - posted) for r in rows if r["sent_at"]]
        delivered_at = [(as_utc(r["delivered_at"]).timestamp() - posted) for r in rows if r["delivered_at"]]
        versions = {(r["device_id"], r["version"]) for r in rows}
        observed = [t - posted for key, t in list(observer.seen.items()) if key in versions]
        observer.close()
        assert self.fleet is not None
        agent_99 = self.fleet.first_time("schedules_received", version * n - n + int(0.99 * n), posted)
        agent_100 = self.fleet.first_time("schedules_received", version * n, posted)
        if sent and delivered_at and sorted(sent) == sorted(delivered_at):
            self.results.notes.append(
                "schedules.sent_at equals delivered_at for every row: the push did not record it (see the server log)"
            )
        received = []
        for path in (self.dir / "fleet").glob("receipts-*.jsonl") if self.args.light else []:
            for line in path.read_text().splitlines():
                device_id, version_, at = json.loads(line)
                if (device_id, version_) in versions:
                    received.append(at - posted)
        for label, offsets in (
            ("stored, the request's time (schedules.created_at)", created),
            ("published and confirmed by the broker (schedules.sent_at)", sent),
            *([("received by the light devices themselves", received)] if self.args.light else []),
            ("delivered to an independent MQTT subscriber", observed),
            ("in force on the agent, confirmed by its heartbeat (schedules.delivered_at)", delivered_at),
        ):
            p99, p100 = percentile_time(offsets, 0.99, n), percentile_time(offsets, 1.0, n)
            self.results.add(
                phase, f"{label}: 99 % / 100 % after the POST", f"{fmt_s(p99)} / {fmt_s(p100)}", [p99, p100]
            )
        self.results.add(
            phase,
            "agents' own counter of views accepted (1-s samples): 99 % / 100 %",
            f"{fmt_s(agent_99 - posted if agent_99 else None)} / {fmt_s(agent_100 - posted if agent_100 else None)}",
        )
        self.measure_acks(phase, posted_dt, end, n)
        for p in self.procs.items:
            if p.name in cpu_before and p.popen.poll() is None:
                used = cpu_seconds(p.popen.pid) - cpu_before[p.name]
                self.results.data[f"{phase}: cpu_s {p.name}"] = round(used, 1)
        self.results.add(
            phase,
            "CPU seconds used during the phase",
            ", ".join(f"{k.split()[-1]} {v}" for k, v in self.results.data.items() if k.startswith(f"{phase}: cpu_s")),
        )

    def measure_acks(
        self, phase: str, posted_dt: datetime, end: datetime, n: int, timeout_s: float = 120
    ) -> list[float]:
        sql = (
            "SELECT e.received_at FROM executions e JOIN schedule_intervals i ON i.id = e.interval_id "
            "JOIN schedules s ON s.id = i.schedule_id WHERE s.created_at >= $1 AND e.message IS DISTINCT FROM $2"
        )
        since = posted_dt - timedelta(seconds=1)
        time.sleep(max(0.0, end.timestamp() - time.time()))
        wait_until(f"{n} acks stored", lambda: len(self.q(sql, since, LOAD_MARK)) >= n, timeout_s, 0.5)
        stored = [as_utc(r[0]).timestamp() - end.timestamp() for r in self.q(sql, since, LOAD_MARK)]
        assert self.fleet is not None
        base = self.fleet.latest.get("acks_sent", 0)
        p99, p100 = percentile_time(stored, 0.99, n), percentile_time(stored, 1.0, n)
        self.results.add(phase, f"acks stored: {len(stored)} of {n}", f"lost {n - len(stored)}", n - len(stored))
        self.results.add(
            phase, "acks stored: 99 % / 100 % after the interval's end", f"{fmt_s(p99)} / {fmt_s(p100)}", [p99, p100]
        )
        sent_100 = self.fleet.first_time("acks_sent", base, end.timestamp())
        self.results.add(
            phase,
            f"agents' counter of acks sent reached its final value ({base}) after the end",
            fmt_s(sent_100 - end.timestamp() if sent_100 else None),
        )
        return stored

    def phase_load(self) -> None:
        count = self.args.load_messages or (30_000 if self.args.with_rabbit else 5_000)
        rows = self.q(
            "SELECT s.device_id, i.id FROM schedule_intervals i JOIN schedules s ON s.id = i.schedule_id ORDER BY i.id"
        )
        if not rows:
            raise BenchError("no intervals to acknowledge: run the push phase first")
        pairs = [[r[0], int(r[1])] for r in rows]
        config = {"pairs": pairs, "connections": self.args.load_connections, "port": self.broker_port}
        counting = "SELECT count(*) FROM executions WHERE message = $1"
        before = int(self.q(counting, LOAD_MARK)[0][0])
        mqtt_worker = self.workers[0]
        if self.args.load_backlog:  # the acks wait in the worker's persistent session, then it drains them
            self.procs.stop(mqtt_worker)
        cpu_before = {p.name: cpu_seconds(p.popen.pid) for p in self.procs.items}
        services_before = {name: service_cpu_seconds(command) for name, command in SERVICES.items()}
        generators = []
        for index in range(self.args.load_processes):
            path = self.dir / f"load-{index}.json"
            share = count // self.args.load_processes + (index < count % self.args.load_processes)
            path.write_text(json.dumps({**config, "messages": share, "index": index}))
            command = [sys.executable, str(Path(__file__).resolve()), "--load-child", str(path)]
            generators.append(self.procs.start(f"load-{index}", command, cwd=str(ROOT), stdout=subprocess.PIPE))
        samples: list[tuple[float, int]] = []
        peak_rss = dict.fromkeys([w.name for w in self.workers], 0.0)
        deadline = time.time() + self.args.load_timeout_s
        finished_gen: dict[str, Any] | None = None
        outputs: list[dict[str, Any]] = []
        while time.time() < deadline:
            stored = int(self.q(counting, LOAD_MARK)[0][0]) - before
            samples.append((time.time(), stored))
            for w in self.workers:
                if w.popen.poll() is None:
                    peak_rss[w.name] = max(peak_rss[w.name], rss_mib(w.popen.pid))
            for generator in [g for g in generators if g.popen.poll() is not None]:
                assert generator.popen.stdout is not None
                output = generator.popen.stdout.read().decode()
                try:
                    outputs.append(json.loads(output.strip().splitlines()[-1]))
                except (ValueError, IndexError):
                    raise BenchError(f"the load generator failed:\n{generator.tail()}") from None
                generators.remove(generator)
                self.procs.items.remove(generator)
            if finished_gen is None and not generators:
                finished_gen = {
                    "started": min(o["started"] for o in outputs),
                    "finished": max(o["finished"] for o in outputs),
                    "confirmed": sum(o["confirmed"] for o in outputs),
                }
                if self.args.load_backlog:
                    log(f"{finished_gen['confirmed']} acks wait in the broker; starting the MQTT worker")
                    finished_gen["drain_from"] = time.time()
                    mqtt_worker = self.start_mqtt_worker()
                    self.workers[0] = mqtt_worker
                    cpu_before[mqtt_worker.name] = 0.0
            if finished_gen is not None and stored >= finished_gen["confirmed"]:
                break
            starting = time.time() - finished_gen.get("drain_from", 0) < 60 if finished_gen else True  # worker start
            if finished_gen is not None and not starting and len(samples) > 40 and samples[-40][1] == stored:
                log("[yellow]no progress for 20 s; stopping the wait[/yellow]")
                break
            time.sleep(0.5)
        if finished_gen is None:
            for generator in generators:
                self.procs.stop(generator)
            raise BenchError("the load generator did not finish in time")
        confirmed, gen_s = finished_gen["confirmed"], finished_gen["finished"] - finished_gen["started"]
        stored = samples[-1][1]
        self.results.add(
            "load",
            f"generator: {confirmed} acks confirmed by the broker "
            f"({self.args.load_processes} processes × {self.args.load_connections} connections)",
            f"{gen_s:.1f} s ({confirmed / gen_s:,.0f} msg/s published)",
            confirmed / gen_s,
        )
        first = next((t for t, s in samples if s > 0), None)
        last = next((t for t, s in samples if s >= stored), samples[-1][0])
        t10 = next((t for t, s in samples if s >= 0.1 * stored), None)
        t90 = next((t for t, s in samples if s >= 0.9 * stored), None)
        steady = (0.8 * stored) / (t90 - t10) if t10 and t90 and t90 > t10 else None
        overall = stored / (last - finished_gen["started"]) if stored else 0.0
        self.results.add("load", "acks stored / lost", f"{stored} / {confirmed - stored}", confirmed - stored)
        if "drain_from" in finished_gen:
            drain_s = last - finished_gen["drain_from"]
            self.results.add(
                "load",
                "backlog: MQTT worker start → last row committed",
                f"{drain_s:.1f} s ({stored / drain_s:,.0f} msg/s)",
                stored / drain_s,
            )
        self.results.add(
            "load",
            "ack path throughput, rows/s committed between 10 % and 90 % of the total",
            f"{steady:,.0f} msg/s" if steady else "n/a",
            steady,
        )
        by_rows = self.rows_per_second(finished_gen["started"])
        self.results.add(
            "load",
            "ack path throughput from the rows' own times (received_at, set per batch): 10 % to 90 % of them",
            f"{by_rows:,.0f} msg/s" if by_rows else "n/a",
            by_rows,
        )
        self.results.add(
            "load",
            "end to end: first publish → last row committed",
            f"{last - finished_gen['started']:.1f} s ({overall:,.0f} msg/s)",
            overall,
        )
        if first is not None:
            self.results.data["load: first row after start_s"] = round(first - finished_gen["started"], 2)
        self.results.add(
            "load",
            "peak RSS of the worker(s) during the load",
            ", ".join(f"{k} {v:.0f} MiB" for k, v in peak_rss.items()),
        )
        used = {
            p.name: round(cpu_seconds(p.popen.pid) - cpu_before[p.name], 1)
            for p in self.procs.items
            if p.name in cpu_before and p.popen.poll() is None
        }
        for name, process_name in SERVICES.items():
            used[name] = round(service_cpu_seconds(process_name) - services_before[name], 1)
        span = last - finished_gen["started"]
        self.results.add(
            "load",
            f"CPU cores used over the {span:.0f} s (CPU s ÷ wall s)",
            ", ".join(f"{k} {v / span:.2f}" for k, v in used.items()),
        )

    def rows_per_second(self, since: float) -> float | None:
        """Rows stored per second between the 10th and 90th percentile of their received_at.

        Sharper than the row count sampled every 0.5 s, which over a drain of a few seconds is off by
        up to a sample at each end.
        """
        sql = "SELECT received_at FROM executions WHERE message = $1 AND received_at >= $2 ORDER BY received_at"
        times = [as_utc(r[0]).timestamp() for r in self.q(sql, LOAD_MARK, datetime.fromtimestamp(since, UTC))]
        first, last = int(0.1 * len(times)), int(0.9 * len(times))
        if last <= first or times[last] <= times[first]:
            return None
        return (last - first) / (times[last] - times[first])

    def phase_outage(self, credentials: dict[str, str]) -> None:
        n = self.args.devices
        lead, outage = self.args.lead_s, self.args.outage_s
        posted, start, end = self.submit(credentials, lead, self.args.interval_s)
        posted_dt = datetime.fromtimestamp(posted, UTC)
        wait_until(
            "schedules delivered before the outage",
            lambda: (
                int(
                    self.q(
                        "SELECT count(*) FROM schedules WHERE created_at >= $1 AND delivered_at IS NOT NULL",
                        posted_dt - timedelta(seconds=1),
                    )[0][0]
                )
                >= n
            ),
            max(1.0, start.timestamp() - time.time() - 1),
        )
        # stop so that the interval ends in the middle of the outage
        stop_at = end.timestamp() - outage / 2
        time.sleep(max(0.0, stop_at - time.time()))
        stopped = time.time()
        self.stop_broker()
        log(f"broker stopped for {outage:.0f} s (the interval ends {end.timestamp() - stopped:.0f} s into it)")
        time.sleep(max(0.0, stopped + outage - time.time()))
        self.start_broker()
        restarted = time.time()
        log("broker restarted")
        assert self.fleet is not None
        stored = self.measure_acks("outage", posted_dt, end, n, timeout_s=self.args.outage_s + 180)
        if len(stored) >= n:
            last = max(stored) + end.timestamp()
            after = last - restarted
            text = f"{after:.2f} s" if after >= 0 else f"all stored {-after:.1f} s before the restart (HTTP fallback)"
            self.results.add("outage", "broker restart → last ack stored", text, after)
        back = self.fleet.first_time("mqtt_connected", n, restarted)
        if back is None:
            wait_until(
                "agents back on MQTT",
                lambda: self.fleet is not None and self.fleet.latest.get("mqtt_connected", 0) >= n,
                120,
                1,
            )
            back = self.fleet.first_time("mqtt_connected", n, restarted)
        self.results.add(
            "outage",
            "broker restart → every agent back on MQTT",
            fmt_s(back - restarted if back else None),
        )

    def run(self) -> None:
        self.start_broker()
        gridpilot(["migrate"], self.env)
        output = gridpilot(["operators", "create", "bench", "--role", "admin"], self.env)
        key = next((w for w in output.split() if w.startswith("gpk_")), None)
        if key is None:
            raise BenchError(f"no API key in:\n{output}")
        self.admin_key = key
        self.start_server()
        credentials = self.provision(key)
        self.start_workers()
        self.start_fleet(credentials)
        phases = self.args.phase or ["push", "load", "outage"]
        if "push" in phases:
            self.phase_push(credentials)
        if "load" in phases:
            if "push" not in phases:
                self.submit(credentials, 3600, 60)
            self.phase_load()
        if "outage" in phases:
            self.phase_outage(credentials)
        for proc in [self.server, *self.workers]:
            if proc is not None:
                text = proc.log_path.read_text(errors="replace")
                errors = [x for x in text.splitlines() if "Traceback" in x or " ERROR " in x or "dead-lettering" in x]
                if errors:
                    self.results.notes.append(f"{proc.name} logged {len(errors)} error lines; first: {errors[0][:200]}")


def render(args: argparse.Namespace, results: Results, header: list[str]) -> str:
    lines = [*header, "", "| phase | measure | value |", "|---|---|---|"]
    lines += [f"| {p} | {m} | {v} |" for p, m, v in results.rows]
    if results.notes:
        lines += ["", *[f"- {note}" for note in results.notes]]
    return "\n".join(lines)


def mode_text(args: argparse.Namespace) -> str:
    if args.with_rabbit:
        return f"MQTT → worker → RabbitMQ → {args.workers} batch worker(s) → PostgreSQL"
    return "MQTT → worker, in-process (one transaction per message) → PostgreSQL"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000, help="simulated devices (default 1000)")
    parser.add_argument("--with-rabbit", action="store_true", help="MQTT → RabbitMQ → batch workers (else in-process)")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes consuming RabbitMQ (with --with-rabbit)"
    )
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn workers of gridpilot serve")
    parser.add_argument("--phase", action="append", choices=["push", "load", "outage"], help="repeatable; default all")
    parser.add_argument("--fleet-processes", type=int, default=2, help="processes the fleet is split over")
    parser.add_argument(
        "--light",
        action="store_true",
        help="light devices (bench/light_fleet.py: an MQTT client each, no agent) instead of full agents",
    )
    parser.add_argument("--control-tick-s", type=float, default=1.0, help="the agents' control tick (ack latency)")
    parser.add_argument("--lead-s", type=float, default=10.0, help="interval start after the POST")
    parser.add_argument("--interval-s", type=float, default=5.0, help="interval length")
    parser.add_argument("--connect-timeout-s", type=float, default=300.0)
    parser.add_argument("--load-messages", type=int, help="default 5,000 in-process, 30,000 with RabbitMQ")
    parser.add_argument("--load-connections", type=int, default=8, help="MQTT connections per load process")
    parser.add_argument("--batch-size", type=int, help="GRIDPILOT_WORKER_BATCH_SIZE of the workers (default: theirs)")
    parser.add_argument("--load-processes", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--load-backlog",
        action="store_true",
        help="stop the MQTT worker while the load is published, then time it draining the backlog",
    )
    parser.add_argument("--load-timeout-s", type=float, default=300.0)
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=MAX_INFLIGHT_MESSAGES,
        help=f"mosquitto max_inflight_messages (default: {MAX_INFLIGHT_MESSAGES}, as `gridpilot broker config` writes)",
    )
    parser.add_argument(
        "--max-queued",
        type=int,
        default=MAX_QUEUED_MESSAGES,
        help=f"mosquitto max_queued_messages (default: {MAX_QUEUED_MESSAGES}, as `gridpilot broker config` writes)",
    )
    parser.add_argument("--keep-dir", action="store_true", help="keep the temporary directory (logs)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--fleet-child", help=argparse.SUPPRESS)
    parser.add_argument("--load-child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fleet_child:
        fleet_child(args.fleet_child)
        return 0
    if args.load_child:
        load_child(args.load_child)
        return 0
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children (mosquitto, the fleet) inherit it
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    command = " ".join([".venv/bin/python bench/bench_fleet.py", *(argv if argv is not None else sys.argv[1:])])
    header = [
        f"Command: `{command}`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {git_revision()}",
        f"Machine: {machine()}; open files limit {soft}",
        f"Mode: {mode_text(args)}",
    ]
    busy = other_load()
    if busy:
        header.append(f"Other load at the start: {'; '.join(busy)}")
    for line in header:
        log(line)
    results = Results()
    directory = Path(tempfile.mkdtemp(prefix="gridpilot-bench-fleet-"))
    procs = Procs(directory)
    ok = True
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with bench_database() as database:
            bench = Bench(args, procs, database, results)
            try:
                bench.run()
            finally:
                procs.stop_all()
                if args.with_rabbit:
                    asyncio.run(delete_rabbit(bench.prefix))
    except (BenchError, KeyboardInterrupt) as exc:
        ok = False
        results.notes.append(f"FAILED: {type(exc).__name__}: {str(exc)[:2000]}")
        log(f"[red]{exc}[/red]")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.keep_dir or not ok:
            log(f"logs kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    print(render(args, results, header))
    if args.json:
        args.json.write_text(json.dumps({"header": header, "figures": results.data, "notes": results.notes}, indent=2))
    return 0 if ok else 1


async def delete_rabbit(prefix: str) -> None:
    import aio_pika

    from gridpilot.messaging import rabbit

    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await rabbit.delete(channel, rabbit.Names.of(prefix))


if __name__ == "__main__":
    sys.exit(main())
