"""`gridpilot agent status` shows the schedule, the next interval, the driver and the outbox from the local store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from gridpilot.agent._store import LocalInterval, Store
from gridpilot.cli import app
from gridpilot.protocol.schedule import Mode

CONFIG = """
server_url = "http://127.0.0.1:8000"
device_id = "bat-9"
credential = "gpd_x"
data_dir = "state"
[battery]
capacity_kwh = 10
max_charge_kw = 5
max_discharge_kw = 5
"""


def test_status_reads_the_local_store(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text(CONFIG)
    now = datetime.now(UTC)
    store = Store(tmp_path / "state" / "agent.db")
    store.replace_schedule(
        version=4,
        etag="W/v4",
        intervals=[
            LocalInterval(41, 4, now - timedelta(minutes=5), now + timedelta(minutes=5), Mode.CHARGE, 2.5),
            LocalInterval(42, 4, now + timedelta(minutes=10), now + timedelta(minutes=20), Mode.DISCHARGE, 3.0),
        ],
        now=now,
    )
    store.start_interval(41, now - timedelta(minutes=5))
    store.enqueue("telemetry", {"soc_pct": 50}, now - timedelta(hours=3))
    store.enqueue("ack", {"ack_id": "a"}, now)
    reading = {"at": now.isoformat(), "soc_pct": 61.5, "power_kw": 2.5, "state": "charging"}
    store.set_meta(controller=json.dumps({"driver_state": "ok", "fault": None, "reading": reading}))
    store.close()
    result = CliRunner().invoke(
        app, ["agent", "status", "--config", str(tmp_path / "agent.toml")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "schedule version 4" in out
    assert "now" in out and "41" in out and "charge" in out and "running" in out
    assert "next" in out and "42" in out and "discharge" in out
    assert "SoC 61.5 %" in out and "power +2.50 kW" in out
    assert "outbox 2 records (1 acks, 0 reports, 1 telemetry)" in out


def test_status_before_the_first_run_and_with_a_broken_config(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text(CONFIG)
    result = CliRunner().invoke(app, ["agent", "status", "--config", str(tmp_path / "agent.toml")])
    assert result.exit_code == 2 and "has not run yet" in result.output
    (tmp_path / "agent.toml").write_text(CONFIG.replace("max_charge_kw = 5", "max_charge_kw = -5"))
    result = CliRunner().invoke(app, ["agent", "--config", str(tmp_path / "agent.toml")], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "'battery.max_charge_kw' must be positive" in result.output
