"""The command groups that need the server stack (installed with the `server` extra)."""

from __future__ import annotations

import typer

from gridpilot.cli import (
    bids,
    broker,
    database,
    demo,
    dlq,
    evaluate,
    forecast,
    ingest,
    keys,
    models,
    openapi,
    operators,
    optimize,
    prices,
    server,
    worker,
)


def register(app: typer.Typer) -> None:
    """Add the server command groups (serve, migrate, worker, operators, ..., prices, models) to `gridpilot`."""
    app.command("serve")(server.serve)
    app.command("demo")(demo.demo)
    app.command("migrate")(database.migrate)
    app.command("worker")(worker.worker)
    app.add_typer(operators.app, name="operators")
    app.add_typer(keys.app, name="keys")
    app.add_typer(ingest.app, name="ingest")
    app.add_typer(openapi.app, name="openapi")
    app.add_typer(broker.app, name="broker")
    app.add_typer(dlq.app, name="dlq")
    app.add_typer(prices.app, name="prices")
    app.add_typer(models.app, name="models")
    app.add_typer(forecast.app, name="forecast")
    app.add_typer(evaluate.app, name="evaluate")
    app.add_typer(optimize.app, name="optimize")
    app.add_typer(bids.app, name="bids")
