"""The agent's configuration: one TOML file, checked in full at start-up with every problem named.

Plain dataclasses and tomllib rather than pydantic: the agent must stay light enough for a
Raspberry Pi, and the file is small.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import time
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gridpilot.protocol.battery import BatteryLimits
from gridpilot.protocol.schedule import Mode

DEFAULT_DATA_DIR = Path("/var/lib/gridpilot-agent")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or has wrong values; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class DriverConfig:
    """Which driver runs the battery, and its settings."""

    type: Literal["simulated", "sunspec"] = "simulated"
    host: str = "127.0.0.1"
    port: int = 502
    unit_id: int = 1
    timeout_s: float = 2.0
    fault_after: int = 3
    initial_soc_pct: float = 50.0


@dataclass(frozen=True, slots=True)
class DefaultInterval:
    """A time-of-day interval of the fallback schedule, in the device's local time zone."""

    start: time
    end: time
    mode: Mode
    rate_kw: float


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything the agent needs: the cloud, the device, the battery's limits, timings and the outbox."""

    server_url: str
    device_id: str
    credential: str
    limits: BatteryLimits
    data_dir: Path = DEFAULT_DATA_DIR
    timezone: str = "UTC"
    driver: DriverConfig = field(default_factory=DriverConfig)
    poll_interval_s: float = 300.0
    control_tick_s: float = 1.0
    setpoint_refresh_s: float = 10.0
    revert_margin_s: float = 5.0
    missed_grace_s: float = 60.0
    telemetry_interval_s: float = 10.0
    heartbeat_interval_s: float = 60.0
    outbox_max_records: int = 100_000
    upload_batch: int = 500
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    request_timeout_s: float = 10.0
    mqtt_url: str | None = None
    mqtt_prefix: str = "gridpilot/v1"
    mqtt_poll_interval_s: float = 3600.0
    fallback: Literal["idle", "default_schedule"] = "idle"
    default_schedule: tuple[DefaultInterval, ...] = ()
    durable_store: bool = True  # only the fleet simulator turns this off (see Store)
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 3

    @property
    def revert_s(self) -> float:
        """The inverter's revert timeout: a little longer than the refresh period, so only a dead agent lets it fire."""
        return self.setpoint_refresh_s + self.revert_margin_s

    @property
    def store_path(self) -> Path:
        """The local SQLite database."""
        return self.data_dir / "agent.db"


_POSITIVE = (
    "poll_interval_s",
    "mqtt_poll_interval_s",
    "control_tick_s",
    "setpoint_refresh_s",
    "telemetry_interval_s",
    "heartbeat_interval_s",
    "backoff_initial_s",
    "backoff_max_s",
    "request_timeout_s",
)
_NON_NEGATIVE = ("revert_margin_s", "missed_grace_s")
_POSITIVE_INT = ("outbox_max_records", "upload_batch", "log_max_bytes", "log_backups")
_TOP_LEVEL = frozenset(
    {
        "server_url",
        "device_id",
        "credential",
        "credential_file",
        "data_dir",
        "timezone",
        "fallback",
        "mqtt_url",
        "mqtt_prefix",
    }
    | set(_POSITIVE)
    | set(_NON_NEGATIVE)
    | set(_POSITIVE_INT)
    | {"battery", "driver", "default_schedule"}
)
_BATTERY_FIELDS = {f for f in BatteryLimits.__dataclass_fields__}
_DRIVER_FIELDS = {f for f in DriverConfig.__dataclass_fields__}


def load_config(path: Path) -> AgentConfig:
    """Read and check the TOML file; a relative credential_file or data_dir is taken from the file's folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_config(raw, base_dir=path.parent)


def parse_config(raw: dict[str, Any], *, base_dir: Path) -> AgentConfig:
    """Build an AgentConfig from parsed TOML, naming every wrong or missing key."""
    problems: list[str] = [f"unknown key '{key}'" for key in sorted(raw.keys() - _TOP_LEVEL)]
    for key in ("server_url", "device_id"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            problems.append(f"'{key}' is required (a non-empty string)")
    credential = _credential(raw, base_dir, problems)
    timings: dict[str, Any] = {}
    for key in _POSITIVE + _NON_NEGATIVE:
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                problems.append(f"'{key}' must be a number of seconds")
            elif value < 0 or (value == 0 and key in _POSITIVE):
                problems.append(f"'{key}' must be {'positive' if key in _POSITIVE else 'zero or more'}")
            else:
                timings[key] = float(value)
    for key in _POSITIVE_INT:
        if key in raw:
            if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] <= 0:
                problems.append(f"'{key}' must be a positive integer")
            else:
                timings[key] = raw[key]
    limits = _limits(raw.get("battery"), problems)
    driver = _driver(raw.get("driver", {}), problems)
    fallback = raw.get("fallback", "idle")
    if fallback not in ("idle", "default_schedule"):
        problems.append("'fallback' must be 'idle' or 'default_schedule'")
    default_schedule = _default_schedule(raw.get("default_schedule", []), problems)
    if fallback == "default_schedule" and not default_schedule:
        problems.append("fallback = 'default_schedule' needs at least one [[default_schedule]] interval")
    mqtt = _mqtt(raw, problems)
    timezone = raw.get("timezone", "UTC")
    if not isinstance(timezone, str) or not _known_timezone(timezone):
        problems.append(f"'timezone' must be an IANA time zone name such as 'Europe/Oslo', not {timezone!r}")
    if problems or limits is None or credential is None:
        raise ConfigError("; ".join(problems))
    data_dir = Path(raw.get("data_dir", DEFAULT_DATA_DIR))
    return AgentConfig(
        server_url=raw["server_url"].rstrip("/"),
        device_id=raw["device_id"],
        credential=credential,
        limits=limits,
        data_dir=data_dir if data_dir.is_absolute() else base_dir / data_dir,
        timezone=timezone,
        driver=driver,
        fallback=fallback,
        default_schedule=default_schedule,
        **mqtt,
        **timings,
    )


def _mqtt(raw: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The optional MQTT push settings."""
    mqtt: dict[str, Any] = {}
    if "mqtt_url" in raw:
        url = raw["mqtt_url"]
        if not isinstance(url, str) or urlsplit(url).scheme not in ("mqtt", "tcp") or not urlsplit(url).hostname:
            problems.append(f"'mqtt_url' must look like mqtt://broker.example.com:1883, not {url!r}")
        else:
            mqtt["mqtt_url"] = url
    if "mqtt_prefix" in raw:
        prefix = raw["mqtt_prefix"]
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "+#"):
            problems.append("'mqtt_prefix' must be a topic prefix without wildcards, such as 'gridpilot/v1'")
        else:
            mqtt["mqtt_prefix"] = prefix
    return mqtt


def _credential(raw: dict[str, Any], base_dir: Path, problems: list[str]) -> str | None:
    """The device credential, inline or (better: keep it out of the config) from a file readable only by the agent."""
    value: object
    if "credential_file" in raw:
        path = Path(raw["credential_file"])
        path = path if path.is_absolute() else base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"credential_file {path}: {exc.strerror}")
            return None
    else:
        value = raw.get("credential")
    if not isinstance(value, str) or not value:
        problems.append("'credential' or 'credential_file' is required")
        return None
    return value


def _limits(raw: object, problems: list[str]) -> BatteryLimits | None:
    if not isinstance(raw, dict):
        problems.append("a [battery] table with the device's limits is required")
        return None
    problems.extend(f"unknown key 'battery.{key}'" for key in sorted(raw.keys() - _BATTERY_FIELDS))
    values: dict[str, float] = {}
    for name in ("capacity_kwh", "max_charge_kw", "max_discharge_kw"):
        if name not in raw:
            problems.append(f"'battery.{name}' is required")
    for name, value in raw.items():
        if name not in _BATTERY_FIELDS:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"'battery.{name}' must be a number")
        else:
            values[name] = float(value)
    for name in ("capacity_kwh", "max_charge_kw", "max_discharge_kw"):
        if values.get(name, 1.0) <= 0:
            problems.append(f"'battery.{name}' must be positive")
    for name in ("charge_efficiency", "discharge_efficiency"):
        if not 0 < values.get(name, 1.0) <= 1:
            problems.append(f"'battery.{name}' must be in (0, 1]")
    low, high = values.get("min_soc_pct", 0.0), values.get("max_soc_pct", 100.0)
    if not 0 <= low < high <= 100:
        problems.append("'battery.min_soc_pct' and 'battery.max_soc_pct' must satisfy 0 <= min < max <= 100")
    if len(values) < len(raw) or any(
        name not in values for name in ("capacity_kwh", "max_charge_kw", "max_discharge_kw")
    ):
        return None
    return BatteryLimits(**values)


def _driver(raw: object, problems: list[str]) -> DriverConfig:
    if not isinstance(raw, dict):
        problems.append("[driver] must be a table")
        return DriverConfig()
    problems.extend(f"unknown key 'driver.{key}'" for key in sorted(raw.keys() - _DRIVER_FIELDS))
    known = {key: value for key, value in raw.items() if key in _DRIVER_FIELDS}
    if known.get("type", "simulated") not in ("simulated", "sunspec"):
        problems.append("'driver.type' must be 'simulated' or 'sunspec'")
    for key in ("port", "unit_id", "fault_after"):
        if key in known and (isinstance(known[key], bool) or not isinstance(known[key], int) or known[key] <= 0):
            problems.append(f"'driver.{key}' must be a positive integer")
    for key in ("timeout_s", "initial_soc_pct"):
        if key in known and (isinstance(known[key], bool) or not isinstance(known[key], int | float)):
            problems.append(f"'driver.{key}' must be a number")
    try:
        return DriverConfig(**known)
    except TypeError as exc:
        problems.append(f"[driver]: {exc}")
        return DriverConfig()


def _default_schedule(raw: object, problems: list[str]) -> tuple[DefaultInterval, ...]:
    if not isinstance(raw, list):
        problems.append("default_schedule must be an array of tables ([[default_schedule]])")
        return ()
    intervals: list[DefaultInterval] = []
    for index, item in enumerate(raw):
        where = f"default_schedule[{index}]"
        if not isinstance(item, dict) or set(item) != {"start", "end", "mode", "rate_kw"}:
            problems.append(f'{where} needs exactly start, end ("HH:MM"), mode (1 or 2) and rate_kw')
            continue
        try:
            start, end = time.fromisoformat(str(item["start"])), time.fromisoformat(str(item["end"]))
            mode = Mode(item["mode"])
        except ValueError:
            problems.append(f'{where}: start and end must be "HH:MM" and mode 1 (charge) or 2 (discharge)')
            continue
        rate = item["rate_kw"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not (0 < rate < math.inf):
            problems.append(f"{where}: rate_kw must be a positive number")
            continue
        if end <= start and end != time(0):
            problems.append(f'{where}: end must be after start (use "00:00" for midnight)')
            continue
        intervals.append(DefaultInterval(start, end, mode, float(rate)))
    intervals.sort(key=lambda interval: interval.start)
    for before, after in pairwise(intervals):
        if before.end == time(0) or after.start < before.end:
            problems.append(f"default_schedule: the interval from {after.start:%H:%M} overlaps the one before it")
    return tuple(intervals)


def _known_timezone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
