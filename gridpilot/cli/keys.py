"""`gridpilot keys`: API keys of operators."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.audit import service as audit_service
from gridpilot.auth import service as auth_service
from gridpilot.auth.exceptions import OperatorNotFound
from gridpilot.auth.schemas import SYSTEM
from gridpilot.cli._session import run_in_session
from gridpilot.config import load_settings
from gridpilot.db import utcnow

app = typer.Typer(help="Operators' API keys (stored hashed; shown once).", no_args_is_help=True)
OperatorName = Annotated[str, typer.Option("--operator", "-o", help="The operator's name")]


@app.command("create")
def create(operator: OperatorName, name: Annotated[str, typer.Option(help="A label for the key")] = "default") -> None:
    """Create an API key for an operator and print it once."""

    async def work(session: AsyncSession) -> str:
        owner = await auth_service.get_operator_by_name(session=session, name=operator)
        key, token = await auth_service.create_api_key(session=session, operator=owner, name=name)
        audit_service.record(
            session=session,
            actor=SYSTEM,
            action="api_key.create",
            target_type="operator",
            target_id=operator,
            details={"key": key.prefix + "…", "name": name},
        )
        return token

    try:
        token = run_in_session(load_settings(), work)
    except OperatorNotFound as exc:
        raise typer.BadParameter(exc.detail, param_hint="--operator") from None
    Console().print(f"API key for [bold]{operator}[/bold] (shown once, store it now): [bold]{token}[/bold]")


@app.command("revoke")
def revoke(operator: OperatorName) -> None:
    """Revoke every API key of an operator."""

    async def work(session: AsyncSession) -> int:
        owner = await auth_service.get_operator_by_name(session=session, name=operator)
        count = await auth_service.revoke_api_keys(session=session, operator=owner, now=utcnow())
        audit_service.record(
            session=session,
            actor=SYSTEM,
            action="api_key.revoke",
            target_type="operator",
            target_id=operator,
            details={"revoked": count},
        )
        return count

    try:
        count = run_in_session(load_settings(), work)
    except OperatorNotFound as exc:
        raise typer.BadParameter(exc.detail, param_hint="--operator") from None
    Console().print(f"revoked {count} key(s) of {operator}")
