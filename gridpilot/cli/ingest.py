"""`gridpilot ingest`: pull schedules from external sources."""

from __future__ import annotations

import typer

app = typer.Typer(help="Ingest schedules from external sources.", no_args_is_help=True)
