"""Every gridpilot command the deployment runs (compose, Kubernetes, the Dockerfiles' health checks) is one the
CLI accepts, with those options."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator

import pytest
import yaml
from typer.testing import CliRunner

from gridpilot.cli import full_app
from tests.deploy.conftest import DEPLOY


def _commands() -> Iterator[list[str]]:
    compose = yaml.safe_load((DEPLOY / "compose/docker-compose.yml").read_text())
    for service in compose["services"].values():
        if "build" in service:  # the gridpilot image: its entrypoint is `gridpilot`
            yield list(service["command"])
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] in {"Deployment", "Job"}:
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    yield list(container["args"])
    agent = (DEPLOY / "docker/Dockerfile.agent").read_text()
    (healthcheck,) = re.findall(r"CMD (\[.*\])", agent.split("HEALTHCHECK", 1)[1])[:1]
    yield json.loads(healthcheck)[1:]  # without "gridpilot"
    entrypoint = json.loads(re.search(r"ENTRYPOINT (\[.*\])", agent).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"CMD (\[.*\])\s*$", agent).group(1))  # type: ignore[union-attr]
    yield entrypoint[1:] + cmd


COMMANDS = list(_commands())


@pytest.mark.parametrize("args", COMMANDS, ids=[shlex.join(c) for c in COMMANDS])
def test_the_cli_accepts_the_command(args: list[str]) -> None:
    """`--help` after the options: click parses them all first, so an unknown command or option fails."""
    result = CliRunner().invoke(full_app(), [*args, "--help"])
    assert result.exit_code == 0, result.output


def test_a_wrong_option_is_noticed() -> None:
    result = CliRunner().invoke(full_app(), ["worker", "--metrics-prot", "9101", "--help"])
    assert result.exit_code != 0
