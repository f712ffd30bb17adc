"""`gridpilot sim`: simulated devices, to run the agent against without hardware."""

from __future__ import annotations

from typing import Annotated

import typer

from gridpilot.simulator.inverter import InverterSimulator, run

app = typer.Typer(help="Simulated devices for development and tests.", no_args_is_help=True)


@app.callback()
def sim() -> None:
    """Simulated devices (a group, so that `sim inverter` keeps its name even with one command)."""


@app.command("inverter")
def inverter(
    port: Annotated[int, typer.Option(help="Modbus TCP port (0 picks a free one)", min=0, max=65535)] = 5020,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    capacity_kwh: Annotated[float, typer.Option(help="Usable battery capacity", min=0.001)] = 10.0,
    max_charge_kw: Annotated[float, typer.Option(help="Maximum charge power (WChaMax)", min=0.001)] = 5.0,
    max_discharge_kw: Annotated[float, typer.Option(help="Maximum discharge power", min=0.001)] = 5.0,
    soc: Annotated[float, typer.Option(help="Initial state of charge, %", min=0.0, max=100.0)] = 50.0,
    efficiency: Annotated[float, typer.Option(help="One-way charge/discharge efficiency", min=0.01, max=1.0)] = 0.95,
) -> None:
    """Serve a SunSpec battery inverter (models 1, 124, 802 at 40000) until Ctrl-C; SIGUSR1 toggles unresponsive."""
    simulator = InverterSimulator(
        capacity_kwh=capacity_kwh,
        max_charge_kw=max_charge_kw,
        max_discharge_kw=max_discharge_kw,
        soc_pct=soc,
        efficiency=efficiency,
    )
    try:
        run(simulator, host, port, announce=typer.echo)
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
