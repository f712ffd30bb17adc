"""docs/api/openapi.yaml is the app's current OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from gridpilot.cli.openapi import render_openapi

EXPORTED = Path(__file__).parents[2] / "docs" / "api" / "openapi.yaml"


def test_exported_openapi_is_current() -> None:
    assert EXPORTED.read_text() == render_openapi(), "stale: run `gridpilot openapi export`"
