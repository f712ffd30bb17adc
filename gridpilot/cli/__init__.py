"""The `gridpilot` command: one module per command group, each thin.

The agent and simulator groups need only the light `agent` extra; the server groups are
added when the server stack is installed. `gridpilot agent ...` and `gridpilot sim ...`
never import the server stack, even where it is installed, so the agent starts fast.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import typer

from gridpilot.cli import agent, sim, simulate

_LIGHT_GROUPS = ("agent", "sim", "simulate")
SERVER_PACKAGES = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "asyncpg",
        "aiosqlite",
        "pydantic_settings",
        "jwt",
        "prometheus_client",
        "asgi_correlation_id",
        "yaml",
    }
)


def light_app() -> typer.Typer:
    """The commands that need only the agent extra: agent, sim and simulate."""
    app = typer.Typer(help="gridpilot: run a fleet of smart batteries.", no_args_is_help=True, add_completion=False)
    app.add_typer(agent.app, name="agent")
    app.add_typer(sim.app, name="sim")
    app.command("simulate")(simulate.simulate)
    return app


@functools.cache
def full_app() -> typer.Typer:
    """Every command this installation can run."""
    app = light_app()
    try:
        from gridpilot.cli import _server_commands
    except ModuleNotFoundError as missing:  # the agent extra alone: no server commands
        if missing.name is None or missing.name.partition(".")[0] not in SERVER_PACKAGES:
            raise
    else:
        _server_commands.register(app)
    return app


def __getattr__(name: str) -> Any:
    """`gridpilot.cli.app`, built on first use (importing a command group must not load the server stack)."""
    if name == "app":
        return full_app()
    raise AttributeError(name)


def main() -> None:
    """Entry point of the `gridpilot` console script."""
    (light_app() if sys.argv[1:2] and sys.argv[1] in _LIGHT_GROUPS else full_app())()
