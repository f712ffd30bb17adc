"""Builders for agent tests: a valid configuration, intervals and device views."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridpilot.agent._store import LocalInterval
from gridpilot.agent.config import AgentConfig, parse_config
from gridpilot.protocol.schedule import Mode

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def config_dict(**overrides: Any) -> dict[str, Any]:
    """A complete agent.toml as a dict."""
    raw: dict[str, Any] = {
        "server_url": "http://127.0.0.1:8000",
        "device_id": "bat-1",
        "credential": "gpd_secret",
        "data_dir": "data",
        "battery": {
            "capacity_kwh": 10.0,
            "max_charge_kw": 5.0,
            "max_discharge_kw": 5.0,
            "min_soc_pct": 10.0,
            "max_soc_pct": 90.0,
            "charge_efficiency": 0.95,
            "discharge_efficiency": 0.95,
        },
    }
    raw.update(overrides)
    return raw


def agent_config(tmp_path: Path, **overrides: Any) -> AgentConfig:
    """A valid AgentConfig with its data in tmp_path."""
    return replace(parse_config(config_dict(), base_dir=tmp_path), **overrides)


def interval(
    id_: int, start_s: float, end_s: float, mode: Mode = Mode.CHARGE, rate_kw: float = 2.0, **state: Any
) -> LocalInterval:
    """An interval from T0 + start_s to T0 + end_s."""
    return LocalInterval(
        id=id_,
        version=1,
        start=T0 + timedelta(seconds=start_s),
        end=T0 + timedelta(seconds=end_s),
        mode=mode,
        rate_kw=rate_kw,
        **state,
    )


def view(*intervals: LocalInterval, version: int = 1, device_id: str = "bat-1") -> dict[str, Any]:
    """The device view the server sends for these intervals."""
    return {
        "device_id": device_id,
        "version": version,
        "intervals": [
            {
                "id": i.id,
                "schedule_id": 1,
                "start": i.start.isoformat(),
                "end": i.end.isoformat(),
                "mode": int(i.mode),
                "rate_kw": i.rate_kw,
            }
            for i in intervals
        ],
    }
