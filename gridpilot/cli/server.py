"""`gridpilot serve`: the API server (embedded SQLite by default)."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot import migrate as migrations
from gridpilot import serving
from gridpilot.audit import service as audit_service
from gridpilot.auth import service as auth_service
from gridpilot.auth.schemas import SYSTEM, Role
from gridpilot.cli._session import run_in_session
from gridpilot.config import Settings, load_settings
from gridpilot.observability import configure_logging


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (GRIDPILOT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (GRIDPILOT_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (GRIDPILOT_WORKERS)")] = None,
    migrate: Annotated[
        bool | None, typer.Option("--migrate/--no-migrate", help="Migrate first (default: yes on the embedded SQLite)")
    ] = None,
) -> None:
    """Run the API server. On first start it creates an 'admin' operator and prints its API key once."""
    settings = load_settings()
    configure_logging(level=settings.log_level, json_logs=settings.log_json)
    if migrate if migrate is not None else settings.database_url is None:
        migrations.upgrade(settings)
    _bootstrap_admin(settings)
    processes = workers or settings.workers
    if processes > 1 and not settings.redis_url:
        Console(stderr=True).print(
            f"[yellow]{processes} server processes without GRIDPILOT_REDIS_URL: each dashboard tab sees only the "
            "live events of the process it is connected to (docs/dashboard.md).[/yellow]"
        )
    serving.serve(
        serving.ServeOptions(
            host=host or settings.host,
            port=port or settings.port,
            workers=processes,
            log_level=settings.log_level.lower(),
            log_json=settings.log_json,
        )
    )


def _bootstrap_admin(settings: Settings) -> None:
    """With no operator at all, create 'admin' so that a fresh install can be used at once."""

    password = secrets.token_urlsafe(12)

    async def work(session: AsyncSession) -> str | None:
        if await auth_service.list_operators(session=session):
            return None
        admin = await auth_service.create_operator(session=session, name="admin", role=Role.ADMIN)
        _, token = await auth_service.create_api_key(session=session, operator=admin, name="bootstrap")
        await auth_service.set_password(session=session, operator=admin, password=password)
        audit_service.record(
            session=session, actor=SYSTEM, action="operator.bootstrap", target_type="operator", target_id="admin"
        )
        return token

    token = run_in_session(settings, work)
    if token:
        base = f"http://{settings.host}:{settings.port}"
        Console().print(
            Panel(
                f"First start: operator [bold]admin[/bold] created (shown once, store them now).\n"
                f"Dashboard: {base}/ — log in as [bold]admin[/bold] with password [bold]{password}[/bold]\n"
                f"API key: [bold]{token}[/bold]\n"
                f"Try: curl -H 'Authorization: Bearer {token}' {base}/api/v1/devices",
                title="gridpilot",
            )
        )
