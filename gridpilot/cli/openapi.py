"""`gridpilot openapi export`: write the API's OpenAPI document for docs/api/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from gridpilot.app import create_app
from gridpilot.config import Settings

app = typer.Typer(help="The OpenAPI document.", no_args_is_help=True)
DEFAULT_PATH = Path("docs/api/openapi.yaml")


def render_openapi() -> str:
    """The OpenAPI document as YAML (independent of local settings)."""
    schema = create_app(Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:")).openapi()
    return yaml.safe_dump(schema, sort_keys=False, allow_unicode=True)


@app.command("export")
def export(out: Annotated[Path, typer.Option(help="Where to write it")] = DEFAULT_PATH) -> None:
    """Write the OpenAPI document (docs/api/openapi.yaml by default)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_openapi())
    typer.echo(f"wrote {out}")
