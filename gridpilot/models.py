"""Every domain's tables, for Alembic and for the schema documentation."""

from __future__ import annotations

import importlib

_MODEL_MODULES = (
    "gridpilot.auth.models",
    "gridpilot.audit.models",
    "gridpilot.fleet.models",
    "gridpilot.telemetry.models",
    "gridpilot.market.models",
)


def import_all_models() -> None:
    """Register every table on Base.metadata."""
    for name in _MODEL_MODULES:
        importlib.import_module(name)
