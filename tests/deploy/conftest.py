"""Paths of deploy/ and the metrics gridpilot exports, for the deployment tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.promql import exported_series

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="session")
def exported() -> dict[str, frozenset[str]]:
    """Series name -> label names, from gridpilot.observability's metric objects."""
    return exported_series()


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool (package `prometheus`, installed by scripts/test)."""
    path = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if path is None:
        pytest.fail("promtool is not installed: scripts/test installs it (apt-get install prometheus)")
    return path
