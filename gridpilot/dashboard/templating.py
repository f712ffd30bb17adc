"""The Jinja2 templates and static files of the dashboard, served from the installed package."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from gridpilot.dashboard.session import csrf_token

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_FILES = ("htmx.min.js", "echarts.min.js")

templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")
templates.env.globals["csrf_token"] = csrf_token


def _to_json(value: Any) -> Markup:
    """JSON for a <script type="application/json"> block (HTML-safe: '<' escaped)."""
    return Markup(json.dumps(value, default=str).replace("<", "\\u003c"))  # noqa: S704 - escaped above


def _when(value: datetime | None) -> str:
    """A timestamp as operators read it: UTC, to the second."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["tojson_safe"] = _to_json
templates.env.filters["when"] = _when


def missing_vendor_files() -> list[str]:
    """Front-end libraries not installed (scripts/assets installs them); pages still work, without charts."""
    return [name for name in VENDOR_FILES if not (STATIC_DIR / "vendor" / name).is_file()]
