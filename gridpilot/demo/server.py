"""The demo's child processes: `gridpilot serve` (and `gridpilot worker`, Mosquitto) on the embedded defaults.

Child processes rather than threads: the server is exactly what `gridpilot serve` runs, its logs go to a
file instead of over the demo's display, and each child is started in its own session so that Ctrl-C
reaches the demo first, which then stops the agents before the server they report to. Each child's pid is
kept in the data dir while it runs, for whoever must clean up after a demo that was killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

# settings that would point the demo away from its embedded defaults (SQLite, in-process queue and events)
_DROPPED = (
    "GRIDPILOT_CONFIG",
    "GRIDPILOT_DATABASE_URL",
    "GRIDPILOT_AMQP_URL",
    "GRIDPILOT_REDIS_URL",
    "GRIDPILOT_MQTT_URL",
    "GRIDPILOT_MQTT_PASSWORD",
    "GRIDPILOT_MQTT_USERNAME",
    "GRIDPILOT_MQTT_PREFIX",
    "GRIDPILOT_MQTT_CLIENT_ID",
    "GRIDPILOT_REDIS_PREFIX",
    "GRIDPILOT_WORKERS",
    "GRIDPILOT_OPTIMIZE_DAILY_AT",
)


class ServerError(RuntimeError):
    """A child could not be started; the message says why (and where its log is)."""


def embedded_environment(data_dir: Path, host: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a server on the embedded defaults, with its data in `data_dir`."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(
        GRIDPILOT_DATA_DIR=str(data_dir.resolve()),
        GRIDPILOT_HOST=host,
        GRIDPILOT_PORT=str(port),
        GRIDPILOT_ENVIRONMENT="development",
        GRIDPILOT_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port (so that the demo never talks to somebody else's server)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


class Child:
    """One child process in its own session, logging to data_dir/NAME.log, its pid in data_dir/NAME.pid."""

    def __init__(self, name: str, command: Sequence[str], *, data_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = data_dir / f"{name}.log"
        self.pid_path = data_dir / f"{name}.pid"
        self._command = list(command)
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start the process (without waiting for it to be ready)."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own programs, with arguments we built
                self._command,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self._process.pid}\n")

    def check(self) -> None:
        """ServerError when the process has exited."""
        if self._process is None:
            raise ServerError(f"the {self.name} was not launched")
        if self._process.poll() is not None:
            raise ServerError(f"the {self.name} exited with {self._process.returncode}; see {self.log_path}")

    def signal(self, signum: int) -> None:
        """Send a signal (e.g. SIGHUP: reload) while the process runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def stop(self, *, timeout_s: float = 20.0) -> None:
        """SIGTERM (finish what it is doing), then SIGKILL if it does not end in time."""
        process, self._process = self._process, None
        self.pid_path.unlink(missing_ok=True)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ServerProcess(Child):
    """`gridpilot serve --no-migrate` (the demo migrated the database itself)."""

    def __init__(self, *, data_dir: Path, host: str, port: int, **extra_env: str) -> None:
        super().__init__(
            "server",
            [sys.executable, "-m", "gridpilot", "serve", "--no-migrate"],
            data_dir=data_dir,
            env=embedded_environment(data_dir, host, port, **extra_env),
        )
        self.url = f"http://{host}:{port}"

    def wait_ready(self, *, timeout_s: float = 60.0) -> None:
        """Wait until /health/ready answers; ServerError if the server dies or never gets there."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"the server was not ready within {timeout_s:.0f} s; see {self.log_path}")
