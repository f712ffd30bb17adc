"""`gridpilot demo` headless: devices come online, execute and acknowledge optimized plans, bids earn money.

The demo runs as the README runs it (a subprocess of the `gridpilot` command), on a free port and a temp
data dir; everything is checked through the HTTP API with the admin key the demo keeps in its data dir.
Then Ctrl-C (SIGINT) must stop it cleanly, and a second run must pick up the same fleet and login. The
first run takes the MQTT path where Mosquitto is installed (a private broker and worker), the second the
HTTP polling path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gridpilot.db import utcnow
from tests.agent.processes import free_port, wait_for

DEVICES = 6


def start_demo(data_dir: Path, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gridpilot",
        "demo",
        "--devices",
        str(DEVICES),
        "--sunspec",
        "2",
        "--speed",
        "60",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPILOT_")}
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_group(process: subprocess.Popen[bytes], data_dir: Path) -> None:
    """Whatever a failed test left: the demo's process group, and its children (server, worker, broker), each in
    its own session with its pid in data_dir/NAME.pid."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    for pid_file in data_dir.glob("*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def plain(log: Path) -> str:
    """The demo's output as words: the panel's borders and line wrapping taken out."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", log.read_text()).split())


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_demo_runs_a_fleet_on_optimized_schedules_that_earn_money_and_restarts_where_it_stopped(
    tmp_path: Path,
) -> None:
    data_dir, port, log = tmp_path / "demo", free_port(), tmp_path / "demo.log"
    url = f"http://127.0.0.1:{port}"
    demo = start_demo(data_dir, port, log)
    try:
        state_file = data_dir / "demo.json"
        wait_for("the demo's login", lambda: state_file.exists() or None, timeout_s=60)
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        login = json.loads(state_file.read_text())
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {login['api_key']}"}, timeout=10)

        def devices() -> list[dict[str, Any]]:
            try:
                response = api.get("/api/v1/devices", params={"tag": "market:NP"})
            except httpx.HTTPError:
                return []
            return response.json()["items"] if response.status_code == 200 else []

        online = wait_for(
            "every device online",
            lambda: (
                (found := devices()) and len(found) == DEVICES and all(d["status"] == "online" for d in found) and found
            ),
            timeout_s=60,
            every_s=0.5,
        )
        assert sum("modbus-sunspec" in d["tags"] for d in online) == 2

        def executed() -> int:
            total = 0
            for device in online:
                page = api.get(f"/api/v1/devices/{device['id']}/acks").json()["items"]
                total += sum(a["status"] == "executed" for a in page)
            return total

        # the check-in interval gives one executed ack per device; more means the optimized plan runs too
        wait_for(
            "optimized intervals executed and acknowledged",
            lambda: executed() > DEVICES or None,
            timeout_s=90,
            every_s=1.0,
        )
        tomorrow = (utcnow().astimezone(ZoneInfo("Europe/Oslo")) + timedelta(days=1)).date()
        bids = api.get("/api/v1/market/bids", params={"market": "NP", "day": tomorrow.isoformat()})
        assert bids.status_code == 200, bids.text
        report = bids.json()
        assert report["status"] == "submitted"
        cleared = [b for b in report["bids"] if b["accepted_mw"]]
        assert cleared and all(b["clearing_price"] is not None for b in cleared)
        api.close()

        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(60) == 0, log.read_text()
        wait_for("every process of the demo gone", lambda: group_gone(demo.pid) or None, timeout_s=30)
        assert not (data_dir / "server.pid").exists()
        output = plain(log)
        assert "Dashboard: " in output and login["password"] in output
        assert ("pushed over MQTT" in output) == (shutil.which("mosquitto") is not None)
        assert "revenue" in output and "stopped everything" in output
        with httpx.Client() as probe:
            try:
                probe.get(f"{url}/health/live", timeout=2)
                raise AssertionError("the server still answers after the demo stopped")
            except httpx.TransportError:
                pass

        credentials = (data_dir / "fleet" / "credentials.json").read_text()
        rerun_log = tmp_path / "rerun.log"
        demo = start_demo(data_dir, port, rerun_log, "--duration-s", "12", "--no-mqtt")  # the HTTP polling path
        assert demo.wait(120) == 0, rerun_log.read_text()
        rerun = plain(rerun_log)
        assert "picked up from the last run" in rerun and login["password"] in rerun
        assert "HTTP polling" in rerun and "revenue" in rerun
        assert (data_dir / "fleet" / "credentials.json").read_text() == credentials  # the same devices
        assert json.loads(state_file.read_text()) == login
    finally:
        stop_group(demo, data_dir)
