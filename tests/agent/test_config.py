"""agent.toml: a complete file loads; a wrong one is refused with every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridpilot.agent.config import ConfigError, load_config, parse_config
from tests.agent.factories import config_dict

TOML = """
server_url = "https://cloud.example/"
device_id = "bat-7"
credential_file = "secret"
data_dir = "state"
poll_interval_s = 120

[battery]
capacity_kwh = 13.5
max_charge_kw = 5
max_discharge_kw = 5

[driver]
type = "sunspec"
host = "192.168.1.20"
port = 502

[[default_schedule]]
start = "01:00"
end = "04:00"
mode = 1
rate_kw = 2.5
"""


def test_a_complete_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("gpd_abc\n")
    path = tmp_path / "agent.toml"
    path.write_text(TOML)
    config = load_config(path)
    assert config.server_url == "https://cloud.example"
    assert config.credential == "gpd_abc"
    assert config.data_dir == tmp_path / "state"
    assert config.poll_interval_s == 120
    assert config.driver.type == "sunspec" and config.driver.host == "192.168.1.20"
    assert config.limits.capacity_kwh == 13.5
    assert len(config.default_schedule) == 1
    assert config.revert_s > config.setpoint_refresh_s


def test_defaults_follow_the_specification(tmp_path: Path) -> None:
    config = parse_config(config_dict(), base_dir=tmp_path)
    assert config.poll_interval_s == 300
    assert config.fallback == "idle"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"server_url": ""}, "'server_url' is required"),
        ({"battery": {"capacity_kwh": 10, "max_charge_kw": 5}}, "'battery.max_discharge_kw' is required"),
        ({"battery": {"capacity_kwh": -1, "max_charge_kw": 5, "max_discharge_kw": 5}}, "must be positive"),
        (
            {
                "battery": {
                    "capacity_kwh": 1,
                    "max_charge_kw": 5,
                    "max_discharge_kw": 5,
                    "min_soc_pct": 95,
                    "max_soc_pct": 90,
                }
            },
            "0 <= min < max <= 100",
        ),
        ({"poll_interval_s": 0}, "'poll_interval_s' must be positive"),
        ({"poll_interval_s": "fast"}, "'poll_interval_s' must be a number"),
        ({"pol_interval_s": 10}, "unknown key 'pol_interval_s'"),
        ({"driver": {"type": "canbus"}}, "'driver.type' must be"),
        ({"timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"fallback": "default_schedule"}, "needs at least one [[default_schedule]]"),
        ({"default_schedule": [{"start": "25:00", "end": "26:00", "mode": 1, "rate_kw": 1}]}, '"HH:MM"'),
        (
            {
                "default_schedule": [
                    {"start": "01:00", "end": "03:00", "mode": 1, "rate_kw": 1},
                    {"start": "02:00", "end": "04:00", "mode": 2, "rate_kw": 1},
                ]
            },
            "overlaps",
        ),
    ],
)
def test_a_wrong_value_is_named(tmp_path: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as error:
        parse_config(config_dict(**change), base_dir=tmp_path)
    assert message in str(error.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"device_id": 5, "poll_interval_s": -1}, base_dir=tmp_path)
    text = str(error.value)
    for expected in (
        "'server_url' is required",
        "'device_id' is required",
        "[battery]",
        "'credential'",
        "poll_interval_s",
    ):
        assert expected in text


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("server_url = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_the_shipped_example_configuration_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "deploy" / "agent.example.toml"
    text = example.read_text().replace("/etc/gridpilot/credential", str(tmp_path / "credential"))
    (tmp_path / "credential").write_text("gpd_example")
    (tmp_path / "agent.toml").write_text(text)
    config = load_config(tmp_path / "agent.toml")
    assert config.driver.type == "sunspec" and config.revert_s == 15.0
