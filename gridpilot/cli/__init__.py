"""The `gridpilot` command: one module per command group, each thin."""

from __future__ import annotations

import typer

from gridpilot.cli import database, ingest, keys, openapi, operators, server

app = typer.Typer(help="gridpilot: run a fleet of smart batteries.", no_args_is_help=True, add_completion=False)
app.command("serve")(server.serve)
app.command("migrate")(database.migrate)
app.add_typer(operators.app, name="operators")
app.add_typer(keys.app, name="keys")
app.add_typer(ingest.app, name="ingest")
app.add_typer(openapi.app, name="openapi")


def main() -> None:
    """Entry point of the `gridpilot` console script."""
    app()
