"""`gridpilot simulate`: a fleet of real agents on simulated batteries, over MQTT, in two processes."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from gridpilot.simulator.fleet import FleetOptions, device_ids, provision, run_fleet
from tests.agent import processes
from tests.agent.processes import wait_for


def stored_acks(server: processes.Server) -> int:
    """Acks in the server's database, all devices together."""
    with sqlite3.connect(server.process.env["GRIDPILOT_DATA_DIR"] + "/gridpilot.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM executions").fetchone()[0])


def test_a_simulated_fleet_receives_pushed_schedules_and_acknowledges_them(tmp_path: Path) -> None:
    broker_port = processes.free_port()
    broker = processes.mosquitto(tmp_path, broker_port).start()
    processes.wait_listening(broker_port)
    mqtt = {"GRIDPILOT_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}"}
    server = processes.server(tmp_path, **mqtt).start()
    worker = processes.worker(tmp_path, **mqtt).start()
    done = threading.Event()
    runner = threading.Thread()
    try:
        options = FleetOptions(
            devices=200,
            server_url=server.url,
            data_dir=tmp_path / "fleet",
            mqtt_url=mqtt["GRIDPILOT_MQTT_URL"],
            processes=2,
            poll_interval_s=3600,
            control_tick_s=0.5,
            telemetry_interval_s=1.0,
        )
        credentials = asyncio.run(provision(options, server.token, lambda _: None))
        assert sorted(credentials) == device_ids(options)
        assert asyncio.run(provision(options, server.token, lambda _: None)) == credentials  # a rerun reuses them
        totals: dict[str, int] = {}
        # daemon: a fleet that fails to stop must fail this test, not hang the whole run at exit
        arguments = (options, credentials, totals.update, 120.0, done)
        runner = threading.Thread(target=run_fleet, args=arguments, daemon=True)
        runner.start()
        wait_for("every device on MQTT", lambda: totals.get("mqtt_connected") == 200, timeout_s=60)
        at = processes.soon(6)  # the POST of 200 schedules must land before the interval ends, on a busy machine
        body = [
            {
                "device_id": d,
                "intervals": [
                    {"start": at.isoformat(), "end": (at + timedelta(seconds=2)).isoformat(), "mode": 1, "rate_kw": 2.0}
                ],
            }
            for d in credentials
        ]
        with server.client() as http:
            response = http.post("/api/v1/schedules", json=body)
            assert response.status_code == 201, response.text[:500]
        wait_for("200 acks stored", lambda: stored_acks(server) == 200, timeout_s=60)
        wait_for("the agents' own count of 200 acks sent", lambda: totals.get("acks_sent") == 200, timeout_s=10)
        done.set()
        runner.join(60)
        assert totals["acks_sent"] == 200 and totals["telemetry_sent"] > 0 and totals["running"] == 0, totals
    finally:
        done.set()
        if runner.is_alive():
            runner.join(60)
        for process in (worker, server.process, broker):
            process.kill()
    assert not runner.is_alive(), f"the fleet did not stop within 60 s; last totals {totals}"


def test_the_command_line_registers_and_runs_the_fleet(tmp_path: Path) -> None:
    server = processes.server(tmp_path).start()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "gridpilot",
                "simulate",
                "--devices",
                "3",
                "--server",
                server.url,
                "--admin-key",
                server.token,
                "--processes",
                "1",
                "--duration-s",
                "3",
                "--data-dir",
                str(tmp_path / "f"),
                "--poll-interval-s",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"COLUMNS": "200", "PATH": "/usr/bin"},
        )
        assert result.returncode == 0, result.stderr
        assert "3 devices (3 newly registered)" in result.stdout
        devices = server.get("/api/v1/devices", tag="simulated")["items"]
        assert len(devices) == 3 and all(d["status"] == "online" for d in devices)
    finally:
        server.process.kill()
