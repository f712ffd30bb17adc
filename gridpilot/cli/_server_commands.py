"""The command groups that need the server stack (installed with the `server` extra)."""

from __future__ import annotations

import typer

from gridpilot.cli import broker, database, dlq, ingest, keys, openapi, operators, server, worker


def register(app: typer.Typer) -> None:
    """Add serve, migrate, worker, operators, keys, ingest, openapi, broker and dlq to the `gridpilot` command."""
    app.command("serve")(server.serve)
    app.command("migrate")(database.migrate)
    app.command("worker")(worker.worker)
    app.add_typer(operators.app, name="operators")
    app.add_typer(keys.app, name="keys")
    app.add_typer(ingest.app, name="ingest")
    app.add_typer(openapi.app, name="openapi")
    app.add_typer(broker.app, name="broker")
    app.add_typer(dlq.app, name="dlq")
