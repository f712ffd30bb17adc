"""The agent runs with the light `agent` extra: no server stack, no data-science stack.

A child Python is started with an import hook that makes the server's and the heavy
libraries' packages uninstallable, as on a Pi with `pip install gridpilot[agent]`; the
agent's modules and its commands must still load and run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# pydantic is not in the list: Typer (the CLI library) itself depends on it since 0.2x.
HEAVY = [
    "sqlalchemy",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic_settings",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "numpy",
    "pandas",
    "sklearn",
    "lightgbm",
    "prometheus_client",
    "jwt",
]

SCRIPT = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    HEAVY = set(sys.argv[1].split(","))

    class NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in HEAVY:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    import gridpilot.agent, gridpilot.simulator
    for package in (gridpilot.agent, gridpilot.simulator):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    from gridpilot.cli import app
    names = sorted(group.name for group in app.registered_groups) + sorted(c.name for c in app.registered_commands)
    print("commands:", names)
    loaded = sorted({m.partition(".")[0] for m in sys.modules} & HEAVY)
    print("heavy:", loaded)
    sys.argv = ["gridpilot", "agent", "--help"]
    app()
    """
)


def test_the_agent_and_its_commands_load_without_the_server_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "commands: ['agent', 'sim', 'simulate']" in result.stdout
    assert "heavy: []" in result.stdout
    assert "runs it until SIGTERM" in result.stdout and "The schedule in force" in result.stdout
