"""`gridpilot operators`: create and list the people and systems that operate the fleet."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.audit import service as audit_service
from gridpilot.auth import service as auth_service
from gridpilot.auth.exceptions import OperatorExists, OperatorNotFound
from gridpilot.auth.schemas import SYSTEM, Role
from gridpilot.cli._session import run_in_session
from gridpilot.config import load_settings

app = typer.Typer(help="Operators and their roles (admin writes, viewer reads).", no_args_is_help=True)


@app.command("create")
def create(
    name: str,
    role: Annotated[Role, typer.Option(help="admin or viewer")] = Role.VIEWER,
    with_key: Annotated[bool, typer.Option("--with-key/--no-key", help="Also create an API key")] = True,
) -> None:
    """Create an operator (and, by default, its first API key, printed once)."""

    async def work(session: AsyncSession) -> str | None:
        operator = await auth_service.create_operator(session=session, name=name, role=role)
        audit_service.record(
            session=session,
            actor=SYSTEM,
            action="operator.create",
            target_type="operator",
            target_id=name,
            details={"role": role.value},
        )
        if not with_key:
            return None
        _, token = await auth_service.create_api_key(session=session, operator=operator, name="default")
        return token

    try:
        token = run_in_session(load_settings(), work)
    except OperatorExists as exc:
        raise typer.BadParameter(exc.detail, param_hint="NAME") from None
    console = Console()
    console.print(f"operator [bold]{name}[/bold] created as {role.value}")
    if token:
        console.print(f"API key (shown once, store it now): [bold]{token}[/bold]")


@app.command("list")
def list_operators() -> None:
    """List operators."""

    async def work(session: AsyncSession) -> list[tuple[str, str, str, str]]:
        return [
            (o.name, o.role, o.created_at.isoformat(timespec="seconds"), "disabled" if o.disabled_at else "active")
            for o in await auth_service.list_operators(session=session)
        ]

    table = Table("name", "role", "created", "state")
    for row in run_in_session(load_settings(), work):
        table.add_row(*row)
    Console().print(table)


@app.command("set-password")
def set_password(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts)")
    ] = False,
) -> None:
    """Set an operator's password for the dashboard's login (asked twice unless --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    async def work(session: AsyncSession) -> None:
        operator = await auth_service.get_operator_by_name(session=session, name=name)
        await auth_service.set_password(session=session, operator=operator, password=password)
        audit_service.record(
            session=session, actor=SYSTEM, action="operator.set_password", target_type="operator", target_id=name
        )

    try:
        run_in_session(load_settings(), work)
    except OperatorNotFound as exc:
        raise typer.BadParameter(exc.detail, param_hint="NAME") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="password") from None
    Console().print(f"password set for operator [bold]{name}[/bold]")
