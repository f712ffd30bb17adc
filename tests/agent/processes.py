"""Real processes on loopback for the agent's field tests: the gridpilot server, the inverter simulator, the agent.

Each is started with the `gridpilot` command a user would run, logs to a file in the
test's directory, and is stopped (or killed, when the test says so) at the end.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from gridpilot.messaging.mosquitto import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES

T = TypeVar("T")
_TOKEN = re.compile(r"API key: (gpk_\S+)")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 20.0, every_s: float = 0.1) -> T:
    """Poll until probe returns something truthy; fail with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as exc:  # a probe against a process that is still starting
            last_error, result = exc, None
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last error: {last_error!r})")


@dataclass
class Process:
    """A `gridpilot ...` child process with its log file."""

    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        command = self.args if self.name == "mosquitto" else [sys.executable, "-m", "gridpilot", *self.args]
        self.popen = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "300", **self.env},
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, like a power cut for the process."""
        if self.running:
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(10)

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        assert self.popen is not None
        if self.running:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
                raise AssertionError(f"{self.name} did not stop within {timeout_s} s: {self.log()[-2000:]}") from None
        return int(self.popen.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Server:
    """The gridpilot server on its embedded SQLite, and an admin API key."""

    process: Process
    url: str
    token: str = ""

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=10)

    def start(self) -> Server:
        self.process.start()
        wait_for("the server to be ready", lambda: httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200)
        if not self.token:
            self.token = wait_for("the admin key in the server's output", lambda: _TOKEN.search(self.process.log()))[1]
        return self

    def register(self, device_id: str, **limits: Any) -> str:
        """Register a device; returns its credential."""
        body = {
            "id": device_id,
            "name": device_id,
            "site": "lab",
            "capacity_kwh": 10,
            "max_charge_kw": 5,
            "max_discharge_kw": 5,
            **limits,
        }
        with self.client() as http:
            response = http.post("/api/v1/devices", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["credential"])

    def submit(self, device_id: str, intervals: list[tuple[float, float, int, float]], *, at: datetime) -> None:
        """A schedule of (start offset s, end offset s, mode, rate_kw) intervals relative to `at`."""
        body = {
            "device_id": device_id,
            "intervals": [
                {
                    "start": (at + timedelta(seconds=s)).isoformat(),
                    "end": (at + timedelta(seconds=e)).isoformat(),
                    "mode": mode,
                    "rate_kw": rate,
                }
                for s, e, mode, rate in intervals
            ],
        }
        with self.client() as http:
            response = http.post("/api/v1/schedules", json=body)
        assert response.status_code == 201, response.text

    def acks(self, device_id: str) -> list[dict[str, Any]]:
        with self.client() as http:
            response = http.get(f"/api/v1/devices/{device_id}/acks", params={"limit": 1000})
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def get(self, path: str, **params: Any) -> Any:
        with self.client() as http:
            response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of the test's server and worker: SQLite in tmp_path/server, plain-text logs."""
    return {
        "GRIDPILOT_DATA_DIR": str(tmp_path / "server"),
        "GRIDPILOT_LOG_JSON": "false",
        "GRIDPILOT_DEVICE_CONTACT_WRITE_EVERY_S": "0",
        **extra,
    }


def server(tmp_path: Path, port: int | None = None, **extra_env: str) -> Server:
    """A server process (not yet started) with its data in tmp_path/server."""
    port = port or free_port()
    env = server_env(tmp_path, GRIDPILOT_PORT=str(port), **extra_env)
    return Server(Process("server", ["serve"], tmp_path / "server.log", env), f"http://127.0.0.1:{port}")


def worker(tmp_path: Path, **extra_env: str) -> Process:
    """`gridpilot worker` on the same database as the test's server."""
    return Process("worker", ["worker"], tmp_path / "worker.log", server_env(tmp_path, **extra_env))


def simulator(tmp_path: Path, port: int, **options: float) -> Process:
    """The SunSpec inverter simulator (`gridpilot sim inverter`)."""
    args = ["sim", "inverter", "--port", str(port)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return Process("simulator", args, tmp_path / "simulator.log")


def mosquitto(tmp_path: Path, port: int) -> Process:
    """A Mosquitto broker of the test's own, anonymous, on loopback (it can be stopped without harming others)."""
    conf = tmp_path / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    limits = [f"max_queued_messages {MAX_QUEUED_MESSAGES}", f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}"]
    conf.write_text("\n".join([*lines, *limits]) + "\n")
    return Process("mosquitto", ["mosquitto", "-c", str(conf)], tmp_path / "mosquitto.log")


def wait_listening(port: int) -> None:
    """Wait until something accepts TCP connections on the loopback port."""

    def accepts() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(f"port {port} to accept connections", accepts)


def agent_toml(
    tmp_path: Path, *, server_url: str, device_id: str, credential: str, inverter_port: int, **overrides: Any
) -> Path:
    """An agent.toml with fast timings for tests, talking SunSpec to the simulator."""
    settings: dict[str, Any] = {
        "poll_interval_s": 0.5,
        "control_tick_s": 0.2,
        "setpoint_refresh_s": 1.0,
        "revert_margin_s": 1.0,
        "missed_grace_s": 5.0,
        "telemetry_interval_s": 0.5,
        "heartbeat_interval_s": 1.0,
        "backoff_initial_s": 0.2,
        "backoff_max_s": 1.0,
        "request_timeout_s": 2.0,
        **overrides,
    }
    lines = [
        f'server_url = "{server_url}"',
        f'device_id = "{device_id}"',
        f'credential = "{credential}"',
        f'data_dir = "{tmp_path / "agent"}"',
        *(f"{key} = {value}" for key, value in settings.items()),
        "[battery]",
        "capacity_kwh = 10.0\nmax_charge_kw = 5.0\nmax_discharge_kw = 5.0\nmin_soc_pct = 5.0\nmax_soc_pct = 95.0",
        "[driver]",
        f'type = "sunspec"\nport = {inverter_port}\ntimeout_s = 0.5\nfault_after = 2',
    ]
    path = tmp_path / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def agent(tmp_path: Path, config: Path) -> Process:
    """The agent process (`gridpilot agent --config ...`)."""
    return Process("agent", ["agent", "--config", str(config)], tmp_path / "agent.log")


def soon(seconds: float = 2.0) -> datetime:
    """A whole second a little ahead, as schedules start."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
