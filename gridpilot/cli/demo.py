"""`gridpilot demo`: the whole system on one machine, with a simulated fleet, in under a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gridpilot.demo.runner import DemoError, DemoOptions, run


def demo(
    devices: Annotated[int, typer.Option(min=1, max=5000, help="Simulated batteries")] = 200,
    sunspec: Annotated[int, typer.Option(min=0, help="How many of them sit behind a SunSpec inverter simulator")] = 5,
    speed: Annotated[
        float, typer.Option(min=1, max=3600, help="1: real time; S: replay tomorrow's plan S times faster")
    ] = 1.0,
    data_dir: Annotated[Path, typer.Option(help="The demo's state: database, models, devices, login")] = Path(
        "data/demo"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="The server's port")] = 8000,
    host: Annotated[str, typer.Option(help="The server's address")] = "127.0.0.1",
    reset: Annotated[bool, typer.Option("--reset", help="Forget the previous run's state and start over")] = False,
    mqtt: Annotated[
        bool | None,
        typer.Option("--mqtt/--no-mqtt", help="Push over a private Mosquitto (default: when installed) or poll HTTP"),
    ] = None,
    duration_s: Annotated[float | None, typer.Option(min=1, help="Stop after this long (default: at Ctrl-C)")] = None,
) -> None:
    """Start a server, a fleet of simulated batteries and a market day; print the dashboard's URL and login."""
    options = DemoOptions(
        data_dir=data_dir,
        devices=devices,
        sunspec_devices=sunspec,
        speed=speed,
        host=host,
        port=port,
        duration_s=duration_s,
        reset=reset,
        mqtt=mqtt,
    )
    try:
        run(options, Console())
    except DemoError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
