"""Settings come from GRIDPILOT_* variables and an optional TOML file; defaults are embedded."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gridpilot.config import load_settings


def test_embedded_default_is_a_sqlite_file_in_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRIDPILOT_DATABASE_URL", raising=False)
    monkeypatch.setenv("GRIDPILOT_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/gridpilot.db"


def test_environment_overrides_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "gridpilot.toml"
    config.write_text('database_url = "postgresql+asyncpg://db/fleet"\ndevice_offline_after_s = 120\nport = 9000\n')
    monkeypatch.setenv("GRIDPILOT_CONFIG", str(config))
    monkeypatch.setenv("GRIDPILOT_PORT", "9100")
    settings = load_settings()
    assert settings.sqlalchemy_url == "postgresql+asyncpg://db/fleet"
    assert settings.device_offline_after_s == 120
    assert settings.port == 9100


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRIDPILOT_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(FileNotFoundError, match=r"absent\.toml"):
        load_settings()


def test_default_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDPILOT_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="GRIDPILOT_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("GRIDPILOT_SECRET_KEY", "a-real-secret-of-sufficient-length-42")
    assert load_settings().environment == "production"


def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDPILOT_DEVICE_OFFLINE_AFTER_S", "-5")
    with pytest.raises(ValidationError, match="device_offline_after_s"):
        load_settings()
