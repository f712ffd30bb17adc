"""The `gridpilot` command: one module per command group, each thin.

The agent and simulator groups need only the light `agent` extra; the server groups are
added when the server stack is installed, so `gridpilot agent` runs on a bare Pi.
"""

from __future__ import annotations

import typer

from gridpilot.cli import agent, sim

app = typer.Typer(help="gridpilot: run a fleet of smart batteries.", no_args_is_help=True, add_completion=False)
app.add_typer(agent.app, name="agent")
app.add_typer(sim.app, name="sim")
_SERVER_PACKAGES = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "asyncpg",
        "aiosqlite",
        "pydantic",
        "pydantic_settings",
        "jwt",
        "prometheus_client",
        "asgi_correlation_id",
        "yaml",
    }
)
try:
    from gridpilot.cli import _server_commands
except ModuleNotFoundError as missing:  # the agent extra alone: no server commands
    if missing.name is None or missing.name.partition(".")[0] not in _SERVER_PACKAGES:
        raise
else:
    _server_commands.register(app)


def main() -> None:
    """Entry point of the `gridpilot` console script."""
    app()
