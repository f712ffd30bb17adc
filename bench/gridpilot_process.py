"""Running the gridpilot command from a benchmark: which executable, and an environment of the bench's own."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path


def gridpilot_command() -> str:
    """The gridpilot console script of this interpreter's venv (else the one on the PATH)."""
    beside = Path(sys.executable).with_name("gridpilot")
    found = str(beside) if beside.exists() else shutil.which("gridpilot")
    if not found:
        raise RuntimeError("the gridpilot command is not installed (run from the project's venv)")
    return found


def server_environment(database: str, data_dir: Path, host: str = "127.0.0.1", **extra: str) -> dict[str, str]:
    """gridpilot's environment on a bench database: no inherited GRIDPILOT_* variable, a fresh secret, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPILOT_")}
    env.update(
        GRIDPILOT_DATABASE_URL=f"postgresql+asyncpg://postgres@{host}:5432/{database}",
        GRIDPILOT_DATA_DIR=str(data_dir),
        GRIDPILOT_ENVIRONMENT="test",
        GRIDPILOT_SECRET_KEY=secrets.token_urlsafe(32),
        GRIDPILOT_LOG_LEVEL="WARNING",
        GRIDPILOT_LOG_JSON="false",
        COLUMNS="200",
    )
    env.update(extra)
    return env
