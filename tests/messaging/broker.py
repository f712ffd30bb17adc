"""A private Mosquitto process for one test: started on a free port, waited for, and always stopped."""

from __future__ import annotations

import contextlib
import getpass
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    """A port nothing listens on right now (the broker binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def current_user() -> str:
    """Who runs the tests: Mosquitto started as root must stay this user to read the 0600 password file."""
    return getpass.getuser()


@dataclass
class Broker:
    """A running Mosquitto and its log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_text(self) -> str:
        """What the broker has logged so far."""
        return self.log.read_text(errors="replace")

    def reload(self, timeout_s: float = 5.0) -> None:
        """kill -HUP, then wait until the broker logs that it re-read its configuration."""
        before = self.log_text().count("Reloading config")
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout_s
        while self.log_text().count("Reloading config") == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not reload:\n{self.log_text()}")
            time.sleep(0.02)


@contextlib.contextmanager
def running_mosquitto(conf: Path, port: int, timeout_s: float = 5.0) -> Iterator[Broker]:
    """Mosquitto with this config, once it accepts connections on `port`; terminated and reaped on the way out."""
    log = conf.parent / "mosquitto.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=sink, stderr=subprocess.STDOUT)
    broker = Broker(process, port, log)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {process.returncode}:\n{broker.log_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not listen on {port}:\n{broker.log_text()}")
            time.sleep(0.02)
        yield broker
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
