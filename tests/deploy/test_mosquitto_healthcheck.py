"""The compose Mosquitto service's health check, run against a real Mosquitto with the configuration
`gridpilot broker config` writes: it passes with the server's password and fails without it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from gridpilot.auth.tokens import mosquitto_password_hash
from gridpilot.messaging import mosquitto
from tests.deploy.conftest import DEPLOY
from tests.messaging.broker import current_user, free_port, running_mosquitto

PASSWORD = "healthcheck-password-123"  # a throwaway broker's


def _healthcheck(port: int, password: str) -> int:
    service = yaml.safe_load((DEPLOY / "compose/docker-compose.yml").read_text())["services"]["mosquitto"]
    kind, command = service["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert "-p 1883" in command
    command = command.replace("$$", "$").replace("-p 1883", f"-p {port}")
    environment = {**os.environ, "GRIDPILOT_MQTT_PASSWORD": password}
    result = subprocess.run(["sh", "-c", command], env=environment, capture_output=True, timeout=15, check=False)
    return result.returncode


def test_the_health_check_logs_in_as_the_server(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "passwd").write_text(mosquitto.password_file([], "gridpilot-server", mosquitto_password_hash(PASSWORD)))
    (tmp_path / "passwd").chmod(0o600)
    (tmp_path / "acl").write_text(mosquitto.acl_file("gridpilot/v1", "gridpilot-server"))
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        mosquitto.mosquitto_conf(port, tmp_path / "passwd", tmp_path / "acl", None, run_as_user=current_user())
    )
    with running_mosquitto(conf, port):
        assert _healthcheck(port, PASSWORD) == 0
        assert _healthcheck(port, "not-the-password") != 0
