"""`gridpilot agent`: run the device agent, or show what it is doing."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridpilot.agent import Agent, AgentConfig, ConfigError, load_config
from gridpilot.agent._logging import configure_agent_logging
from gridpilot.agent._store import LocalInterval
from gridpilot.agent.status import read_status

app = typer.Typer(
    help="The device agent on each battery's Raspberry Pi: `gridpilot agent --config agent.toml` runs it until SIGTERM."
)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The agent's TOML configuration file")]
_MODES = {1: "charge", 2: "discharge"}


@app.callback(invoke_without_command=True)
def agent(ctx: typer.Context, config: ConfigOption = Path("/etc/gridpilot/agent.toml")) -> None:
    """Run the agent until SIGTERM or Ctrl-C (`gridpilot agent --config agent.toml`)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _load(config)
    configure_agent_logging(data_dir=settings.data_dir, max_bytes=settings.log_max_bytes, backups=settings.log_backups)
    asyncio.run(_run(Agent(settings)))


async def _run(agent: Agent) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.run(stop)


@app.command()
def status(config: ConfigOption = Path("/etc/gridpilot/agent.toml")) -> None:
    """The schedule in force, the current and next intervals, the driver state and the outbox depth."""
    settings = _load(config)
    if not settings.store_path.exists():
        raise typer.BadParameter(f"no agent store at {settings.store_path}: the agent has not run yet")
    now = datetime.now(UTC)
    snapshot = read_status(settings.store_path, now=now)
    console = Console()
    version = snapshot.schedule_version
    console.print(
        f"[bold]device[/] {settings.device_id}   [bold]schedule version[/] {version if version is not None else '-'}"
        f"   received {snapshot.schedule_received_at or '-'}"
    )
    if snapshot.rejected_version is not None:
        console.print(f"[yellow]last refused version[/] {snapshot.rejected_version}")
    controller = snapshot.controller or {}
    reading = controller.get("reading") or {}
    console.print(
        f"[bold]driver[/] {controller.get('driver_state', 'unknown')}"
        + (f" [red]fault: {controller['fault']}[/]" if controller.get("fault") else "")
        + (
            f"   SoC {reading['soc_pct']:.1f} %   power {reading['power_kw']:+.2f} kW ({reading['state']})"
            if reading
            else ""
        )
        + f"   (as of {snapshot.controller_at or '-'})"
    )
    table = Table("", "interval", "start", "end", "mode", "rate kW", "state")
    if snapshot.current:
        table.add_row("now", *_row(snapshot.current))
    for interval in snapshot.upcoming:
        table.add_row("next", *_row(interval))
    for interval, outcome in snapshot.recent:
        table.add_row("done", *_row(interval)[:-1], outcome or "")
    console.print(table)
    outbox = snapshot.outbox
    console.print(
        f"[bold]outbox[/] {outbox.depth} records ({outbox.acks} acks, {outbox.rejections} reports, "
        f"{outbox.telemetry} telemetry), oldest {outbox.oldest_at or '-'}, {outbox.dead_letters} refused by the cloud"
    )


def _row(interval: LocalInterval) -> list[str]:
    return [
        str(interval.id),
        interval.start.isoformat(timespec="seconds"),
        interval.end.isoformat(timespec="seconds"),
        _MODES[int(interval.mode)],
        f"{interval.rate_kw:g}",
        interval.state,
    ]


def _load(path: Path) -> AgentConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
