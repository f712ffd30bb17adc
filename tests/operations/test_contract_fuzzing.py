"""Contract fuzzing with schemathesis against a real server process: no input gives a 5xx."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from gridpilot.app import create_app
from gridpilot.config import Settings

schema = schemathesis.openapi.from_dict(
    create_app(Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:")).openapi()
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gridpilot(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gridpilot", *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _wait_until_live(base: str) -> None:
    for _ in range(100):
        try:
            if httpx.get(f"{base}/health/live").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not come up within 10 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A `gridpilot serve` process on a fresh SQLite file, with an admin key and one device."""
    data = tmp_path_factory.mktemp("fuzz")
    port = _free_port()
    env = {**os.environ, "GRIDPILOT_DATA_DIR": str(data), "GRIDPILOT_PORT": str(port), "GRIDPILOT_LOG_LEVEL": "WARNING"}
    _gridpilot(env, "migrate")
    output = _gridpilot(env, "operators", "create", "fuzzer", "--role", "admin")
    key = re.search(r"gpk_\S+", output)
    assert key is not None, output
    auth = {"Authorization": f"Bearer {key.group(0)}"}
    base = f"http://127.0.0.1:{port}"
    with (data / "server.log").open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridpilot", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log_file
        )
        try:
            _wait_until_live(base)
            created = httpx.post(
                f"{base}/api/v1/devices",
                headers=auth,
                json={"id": "fuzz-1", "name": "fuzz", "capacity_kwh": 10, "max_charge_kw": 5, "max_discharge_kw": 5},
            )
            assert created.status_code == 201, created.text
            yield base, auth
        finally:
            process.terminate()
            process.wait(timeout=10)
    log = Path(data / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case: schemathesis.Case, server: tuple[str, dict[str, str]]) -> None:
    base, auth = server
    response = case.call(base_url=base, headers=auth)
    case.validate_response(response, checks=[not_a_server_error])
