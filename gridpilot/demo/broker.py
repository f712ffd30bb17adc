"""The demo's own Mosquitto: per-device accounts and ACL from the registry, as `gridpilot broker config` writes them.

Started only when the `mosquitto` program is installed (the demo needs nothing but Python otherwise: the
devices then poll over HTTP). A broker of the demo's own rather than the machine's: the accounts, the ACL
and the retained schedules belong to this fleet, and stopping the demo stops it.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import socket
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.tokens import mosquitto_password_hash
from gridpilot.cli._session import run_in_session
from gridpilot.cli.broker import write_atomically
from gridpilot.config import Settings
from gridpilot.demo.server import Child, ServerError, listening
from gridpilot.fleet import service as fleet_service
from gridpilot.messaging import mosquitto

SERVER_USER = "gridpilot-server"


def available() -> bool:
    """Whether Mosquitto is installed."""
    return shutil.which("mosquitto") is not None


def free_port() -> int:
    """A free loopback port for the broker's listener."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker(Child):
    """Mosquitto on a free loopback port, authenticated, with the fleet's ACL; reconfigure() after new devices."""

    def __init__(self, *, data_dir: Path) -> None:
        self.dir = data_dir / "broker"
        self.port = free_port()
        self.password = secrets.token_urlsafe(24)  # the server's and the worker's, new on every run
        program = shutil.which("mosquitto") or "mosquitto"
        super().__init__(
            "mosquitto", [program, "-c", str(self.dir / "mosquitto.conf")], data_dir=data_dir, env=dict(os.environ)
        )

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:PORT."""
        return f"mqtt://127.0.0.1:{self.port}"

    def configure(self, settings: Settings) -> int:
        """Write passwd (0600), acl and mosquitto.conf from the registry; returns how many device accounts."""

        async def work(session: AsyncSession) -> list[tuple[str, str]]:
            return await fleet_service.broker_accounts(session=session)

        accounts = run_in_session(settings, work)
        self.dir.mkdir(parents=True, exist_ok=True)
        files = {
            "passwd": mosquitto.password_file(accounts, SERVER_USER, mosquitto_password_hash(self.password)),
            "acl": mosquitto.acl_file(settings.mqtt_prefix, SERVER_USER),
            "mosquitto.conf": mosquitto.mosquitto_conf(
                self.port,
                self.dir / "passwd",
                self.dir / "acl",
                self.dir,
                bind_address="127.0.0.1",
                run_as_user=getpass.getuser(),
            ),
        }
        for name, text in files.items():
            write_atomically(self.dir / name, text, 0o600 if name == "passwd" else 0o644)
        return len(accounts)

    def start(self, *, timeout_s: float = 10.0) -> None:
        """Launch Mosquitto and wait until it listens."""
        self.launch()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            if listening("127.0.0.1", self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"mosquitto did not listen within {timeout_s:.0f} s; see {self.log_path}")

    def reload(self) -> None:
        """Re-read the password and ACL files (after new devices were registered)."""
        self.signal(signal.SIGHUP)
