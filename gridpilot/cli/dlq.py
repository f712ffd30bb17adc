"""`gridpilot dlq`: inspect and replay the dead-letter queue of device messages (RabbitMQ)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridpilot.config import Settings, load_settings
from gridpilot.messaging import dlq as dead_letters

app = typer.Typer(help="The dead-letter queue of device messages (needs GRIDPILOT_AMQP_URL).", no_args_is_help=True)


def _settings() -> Settings:
    settings = load_settings()
    if not settings.amqp_url:
        typer.echo("error: set GRIDPILOT_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672/): the DLQ is on RabbitMQ")
        raise typer.Exit(2)
    return settings


@app.command("list")
def list_(limit: Annotated[int, typer.Option(min=1, help="Show at most this many, oldest first")] = 50) -> None:
    """Show dead letters without removing them: device, channel, reason, attempts, first received."""
    rows = asyncio.run(dead_letters.peek(_settings(), limit=limit))
    table = Table("device", "channel", "reason", "attempts", "first received", title=f"{len(rows)} dead letter(s)")
    for row in rows:
        table.add_row(
            escape(row.device_id), row.channel, escape(row.reason), str(row.attempts), escape(row.first_received)
        )
    Console(width=300).print(table)


@app.command("replay")
def replay(
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter there is now")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Replay at most this many, oldest first")] = None,
) -> None:
    """Move dead letters back to the main queue (after fixing their cause); the workers process them again."""
    if all_ == (limit is not None):
        typer.echo("error: say --all or --limit N")
        raise typer.Exit(2)
    moved = asyncio.run(dead_letters.replay(_settings(), limit=limit))
    typer.echo(f"replayed {moved} message(s)")
