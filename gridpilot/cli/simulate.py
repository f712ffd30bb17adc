"""`gridpilot simulate`: a fleet of simulated devices against a server, with live progress."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from gridpilot.simulator.fleet import FleetOptions, provision, run_fleet


def simulate(
    devices: Annotated[int, typer.Option(min=1, help="How many simulated devices")],
    server: Annotated[str, typer.Option(help="The gridpilot server, e.g. http://127.0.0.1:8000")],
    admin_key: Annotated[str, typer.Option(envvar="GRIDPILOT_ADMIN_KEY", help="An admin API key, to register")],
    mqtt: Annotated[str | None, typer.Option(help="mqtt://host:1883 for push; without it the devices poll")] = None,
    mqtt_prefix: Annotated[str, typer.Option(help="Topic prefix")] = "gridpilot/v1",
    processes: Annotated[int, typer.Option(min=1, help="asyncio processes to spread the devices over")] = 2,
    data_dir: Annotated[Path | None, typer.Option(help="Credentials and local stores (default: a temp dir)")] = None,
    id_prefix: Annotated[str, typer.Option(help="Device ids are PREFIX-00000...")] = "sim",
    poll_interval_s: Annotated[float, typer.Option(min=0.1)] = 300.0,
    telemetry_interval_s: Annotated[float, typer.Option(min=0.1)] = 60.0,
    duration_s: Annotated[float | None, typer.Option(help="Stop after this long (default: until Ctrl-C)")] = None,
) -> None:
    """Register (once) and run N simulated devices: real agents on simulated batteries, a few hundred per process."""
    logging.basicConfig(level=logging.WARNING)
    options = FleetOptions(
        devices=devices,
        server_url=server.rstrip("/"),
        data_dir=data_dir or Path(tempfile.mkdtemp(prefix="gridpilot-fleet-")),
        mqtt_url=mqtt,
        mqtt_prefix=mqtt_prefix,
        id_prefix=id_prefix,
        processes=min(processes, devices),
        poll_interval_s=poll_interval_s,
        telemetry_interval_s=telemetry_interval_s,
    )
    console = Console()
    registered = 0
    with console.status("registering devices...") as status:

        def count(n: int) -> None:
            nonlocal registered
            registered += n
            status.update(f"registered {registered} of {devices}")

        credentials = asyncio.run(provision(options, admin_key, count))
    console.print(f"{len(credentials)} devices ({registered} newly registered); data in {options.data_dir}")
    with Live(_table({}), console=console, refresh_per_second=2) as live:
        run_fleet(options, credentials, lambda totals: live.update(_table(totals)), duration_s)


def _table(totals: dict[str, int]) -> Table:
    table = Table("devices", "running", "MQTT connected", "schedules received", "acks sent", "telemetry sent")
    table.add_row(
        *(str(totals.get(k, 0)) for k in ("devices", "running", "mqtt_connected", "schedules_received", "acks_sent")),
        str(totals.get("telemetry_sent", 0)),
    )
    return table
