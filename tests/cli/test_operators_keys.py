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
