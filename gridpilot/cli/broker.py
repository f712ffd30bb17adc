"""`gridpilot broker`: Mosquitto's accounts and ACL from the fleet registry, so each device has its own MQTT login."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.auth.tokens import mosquitto_password_hash
from gridpilot.cli._session import run_in_session
from gridpilot.config import load_settings
from gridpilot.fleet import service as fleet_service
from gridpilot.messaging import mosquitto
from gridpilot.protocol.mqtt import DEFAULT_PREFIX

app = typer.Typer(help="Configure the MQTT broker (Mosquitto) for the fleet.", no_args_is_help=True)
PASSWORD_ENV = "GRIDPILOT_MQTT_PASSWORD"  # noqa: S105 - the name of the variable, not a password


def write_atomically(path: Path, text: str, mode: int) -> None:
    """Write beside the target and rename over it, so a broker reloading meanwhile reads the old or the new file."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@app.command("config")
def config(
    out: Annotated[Path, typer.Option("--out", help="Directory for passwd, acl and mosquitto.conf")],
    prefix: Annotated[str, typer.Option(help="Topic prefix of the fleet")] = DEFAULT_PREFIX,
    port: Annotated[int, typer.Option(help="Port of the broker's listener")] = 1883,
    server_user: Annotated[str, typer.Option(help="MQTT username of the gridpilot server")] = "gridpilot-server",
    bind: Annotated[str | None, typer.Option(help="Address the listener binds (default: all)")] = None,
    broker_user: Annotated[
        str | None, typer.Option(help="System user Mosquitto runs as when started as root (default: mosquitto)")
    ] = None,
) -> None:
    """Write Mosquitto's password file, ACL and config: one account per active device, plus the server's."""
    server_password = os.environ.get(PASSWORD_ENV)
    if not server_password:
        typer.echo(f"error: set {PASSWORD_ENV} to the MQTT password the gridpilot server will use", err=True)
        raise typer.Exit(2)

    async def work(session: AsyncSession) -> list[tuple[str, str]]:
        return await fleet_service.broker_accounts(session=session)

    out = out.resolve()
    try:
        accounts = run_in_session(load_settings(), work)
        passwd = mosquitto.password_file(accounts, server_user, mosquitto_password_hash(server_password))
        acl = mosquitto.acl_file(prefix, server_user)
        conf = mosquitto.mosquitto_conf(
            port, out / "passwd", out / "acl", out, bind_address=bind, run_as_user=broker_user
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "passwd", passwd, 0o600)
    write_atomically(out / "acl", acl, 0o644)
    write_atomically(out / "mosquitto.conf", conf, 0o644)
    where = escape(str(out))
    Console().print(
        f"wrote {len(accounts)} device account(s) and the server account [bold]{escape(server_user)}[/bold] "
        f"to {where}/passwd (mode 0600: the broker's user must own it)\n"
        f"start: mosquitto -c {where}/mosquitto.conf\n"
        "reload a running broker (re-reads the password and ACL files): kill -HUP <mosquitto pid>"
    )
