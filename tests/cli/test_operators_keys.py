"""`gridpilot operators` and `gridpilot keys` create working credentials, shown once."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gridpilot import migrate as migrations
from gridpilot.app import create_app
from gridpilot.cli import app
from gridpilot.config import Settings, load_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDPILOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GRIDPILOT_DATABASE_URL", raising=False)
    migrations.upgrade(Settings(data_dir=tmp_path))
    return tmp_path


async def _status_async(token: str) -> int:
    application = create_app(load_settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as client:
        response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    await application.state.engine.dispose()
    return response.status_code


def _status(token: str) -> int:
    return asyncio.run(_status_async(token))


def test_created_operator_key_authenticates_and_revoke_stops_it(data_dir: Path) -> None:
    result = runner.invoke(app, ["operators", "create", "alice", "--role", "admin"])
    assert result.exit_code == 0, result.output
    token = re.search(r"gpk_\S+", result.output)
    assert token is not None
    assert _status(token.group(0)) == 200
    second = runner.invoke(app, ["keys", "create", "--operator", "alice"])
    assert second.exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "--operator", "alice"]).exit_code == 0
    assert _status(token.group(0)) == 401
    listed = runner.invoke(app, ["operators", "list"])
    assert "alice" in listed.output
    assert "gpk_" not in listed.output


def test_duplicate_operator_and_unknown_operator_are_clear_errors(data_dir: Path) -> None:
    assert runner.invoke(app, ["operators", "create", "bob"]).exit_code == 0
    again = runner.invoke(app, ["operators", "create", "bob"])
    assert again.exit_code == 2
    assert "already exists" in again.output
    missing = runner.invoke(app, ["keys", "create", "--operator", "nobody"])
    assert missing.exit_code == 2
    assert "no operator named" in missing.output


async def _dashboard_login_async(name: str, password: str) -> int:
    application = create_app(load_settings())
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        form = (await client.get("/login")).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        response = await client.post(
            "/login", data={"username": name, "password": password, "csrf_token": token.group(1)}
        )
    await application.state.engine.dispose()
    return response.status_code


def test_set_password_lets_the_operator_log_in_to_the_dashboard(data_dir: Path) -> None:
    assert runner.invoke(app, ["operators", "create", "carol", "--no-key"]).exit_code == 0
    assert asyncio.run(_dashboard_login_async("carol", "a-long-password")) == 401  # no password yet
    result = runner.invoke(app, ["operators", "set-password", "carol", "--password-stdin"], input="a-long-password\n")
    assert result.exit_code == 0, result.output
    assert asyncio.run(_dashboard_login_async("carol", "a-long-password")) == 303
    assert asyncio.run(_dashboard_login_async("carol", "another-password")) == 401


def test_set_password_refuses_a_short_password_and_an_unknown_operator(data_dir: Path) -> None:
    assert runner.invoke(app, ["operators", "create", "dave", "--no-key"]).exit_code == 0
    short = runner.invoke(app, ["operators", "set-password", "dave", "--password-stdin"], input="short\n")
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output
    unknown = runner.invoke(app, ["operators", "set-password", "nobody", "--password-stdin"], input="a-long-password\n")
    assert unknown.exit_code == 2
    assert "no operator named 'nobody'" in unknown.output
