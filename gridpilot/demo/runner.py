"""`gridpilot demo` from start to Ctrl-C: server, fleet, market day, live plan, and a clean stop.

Threads and processes: the server is a child process; the simulated fleet runs in this process's main
thread (and a few spawned helpers, the fleet simulator's own); the market work (prices, model, plan,
bids, live schedules) runs in one background thread with its own event loop and database engine, so the
fleet keeps running while the optimizer works. Stopping goes in reverse: market thread, agents, server.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import FrameType

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from gridpilot.config import Settings, load_settings
from gridpilot.db import create_engine, create_session_factory, utcnow
from gridpilot.demo import broker, live, market, state
from gridpilot.demo.broker import Broker
from gridpilot.demo.server import Child, ServerError, ServerProcess, embedded_environment, listening, port_free
from gridpilot.market.series import day_bounds, local_day
from gridpilot.messaging.mqtt import MqttPublisher
from gridpilot.simulator.fleet import FleetOptions, provision, run_fleet

_SOC_WAIT_S = 45.0  # how long the plan waits for every battery to report its SoC before planning those that did
_REDIS = ("127.0.0.1", 6379)
_LEAD = timedelta(seconds=6)  # a new plan starts this far ahead: every agent polls (every 5 s) before it begins


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `gridpilot demo` runs: where its state lives, how big the fleet is, how fast the day goes."""

    data_dir: Path
    devices: int = 200
    sunspec_devices: int = 5
    speed: float = 1.0
    host: str = "127.0.0.1"
    port: int = 8000
    duration_s: float | None = None
    reset: bool = False
    mqtt: bool | None = None  # None: push over a private Mosquitto when it is installed, else HTTP polling


@dataclass
class Status:
    """What the display shows; written by the market thread and the fleet's progress callback."""

    started: float = field(default_factory=time.monotonic)
    stage: str = "starting"
    plan: live.LivePlan | None = None
    revenue: market.Revenue | None = None
    totals: dict[str, int] = field(default_factory=dict)
    first_ack_s: float | None = None


class DemoError(RuntimeError):
    """The demo cannot run as asked (port taken, server not starting); the message says what to do."""


def settings_for(options: DemoOptions, mqtt: Broker | None = None) -> Settings:
    """The embedded defaults, whatever GRIDPILOT_* says: SQLite in the data dir, no RabbitMQ, no Redis."""
    return load_settings(
        data_dir=options.data_dir,
        host=options.host,
        port=options.port,
        database_url=None,
        amqp_url=None,
        redis_url=None,
        optimize_daily_at=None,
        mqtt_url=mqtt.url if mqtt else None,
        mqtt_password=mqtt.password if mqtt else None,
        mqtt_username=broker.SERVER_USER,
        mqtt_prefix="gridpilot/v1",
        mqtt_client_id="gridpilot-demo-worker",
    )


def run(options: DemoOptions, console: Console) -> Status:
    """Run the demo until Ctrl-C/SIGTERM or `duration_s`; everything it started is stopped when it returns."""
    status = Status()
    signal.signal(signal.SIGTERM, _exit_cleanly)  # until the fleet runs (it handles SIGTERM itself): stop children
    if options.reset:
        state.reset(options.data_dir)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    if not port_free(options.host, options.port):
        raise DemoError(f"{options.host}:{options.port} is in use: pick another with --port")
    with console.status("preparing the database..."):
        login, first = state.prepare(settings_for(options))
    use_mqtt = broker.available() if options.mqtt is None else options.mqtt
    if use_mqtt and not broker.available():
        raise DemoError("--mqtt needs Mosquitto (apt-get install mosquitto); without it the devices poll over HTTP")
    mqtt = Broker(data_dir=options.data_dir) if use_mqtt else None
    settings = settings_for(options, mqtt)
    mqtt_env = {"GRIDPILOT_MQTT_URL": mqtt.url, "GRIDPILOT_MQTT_PASSWORD": mqtt.password} if mqtt else {}
    mqtt_env |= {"GRIDPILOT_MQTT_CLIENT_ID": settings.mqtt_client_id} if mqtt else {}
    if mqtt and listening(*_REDIS):  # the worker's writes reach the dashboard's live views only through Redis
        mqtt_env |= {
            "GRIDPILOT_REDIS_URL": f"redis://{_REDIS[0]}:{_REDIS[1]}/0",
            "GRIDPILOT_REDIS_PREFIX": f"gridpilot-demo-{options.port}",
        }
    server = ServerProcess(data_dir=options.data_dir, host=options.host, port=options.port, **mqtt_env)
    ingest = Child(
        "worker",
        [sys.executable, "-m", "gridpilot", "worker"],
        data_dir=options.data_dir,
        env=embedded_environment(options.data_dir, options.host, options.port, **mqtt_env),
    )
    stopping = threading.Event()
    worker: threading.Thread | None = None
    try:
        with console.status("starting the server and loading prices..."):
            if mqtt is not None:
                mqtt.configure(settings)
                mqtt.start()
            server.launch()
            today = local_day(utcnow(), market.TIMEZONE)
            asyncio.run(_seed(settings, today=today, console=console))
            server.wait_ready()
        fleet = FleetOptions(
            devices=options.devices,
            server_url=server.url,
            data_dir=state.fleet_dir(options.data_dir),
            mqtt_url=mqtt.url if mqtt else None,
            id_prefix="demo",
            processes=max(1, min(4, options.devices // 100)),
            poll_interval_s=5.0,
            control_tick_s=1.0,
            telemetry_interval_s=10.0,
            heartbeat_interval_s=10.0,
            tags=(market.MARKET_TAG,),
            sunspec_devices=min(options.sunspec_devices, options.devices),
            initial_soc_pct=50.0,
        )
        with console.status("registering the fleet..."):
            credentials = asyncio.run(provision(fleet, login.api_key, lambda _n: None))
            if mqtt is not None:  # the new devices' accounts, then the worker that takes their messages in
                mqtt.configure(settings)
                mqtt.reload()
                ingest.launch()
        _announce(
            console,
            options,
            server.url,
            login,
            first=first,
            devices=len(credentials),
            fleet=fleet,
            redis="GRIDPILOT_REDIS_URL" in mqtt_env,
        )
        worker = threading.Thread(
            target=_market_thread, args=(settings, options, status, stopping, console), name="demo-market", daemon=True
        )
        worker.start()
        with Live(_view(status), console=console, refresh_per_second=2, transient=not console.is_terminal) as screen:

            def progress(totals: dict[str, int]) -> None:
                status.totals = totals
                if status.first_ack_s is None and totals.get("acks_sent", 0) > 0:
                    status.first_ack_s = time.monotonic() - status.started
                    console.print(f"first acknowledgement {status.first_ack_s:.0f} s after the start")
                screen.update(_view(status))

            run_fleet(fleet, credentials, progress, options.duration_s)
    except ServerError as exc:
        raise DemoError(str(exc)) from None
    finally:
        stopping.set()
        if worker is not None:
            worker.join(60)
        ingest.stop()
        server.stop()
        if mqtt is not None:
            mqtt.stop()
    _summary(console, status)
    return status


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)


async def _seed(settings: Settings, *, today: date, console: Console) -> None:
    """Prices up to today (tomorrow's are published after the fleet has bid), and a forecasting model."""
    engine = create_engine(settings)
    try:
        factory = create_session_factory(engine)
        days = market.sample_points(last_day=today + timedelta(days=1))
        known = {day: points for day, points in days.items() if day <= today}
        count = await market.import_days(factory, days=known, now=utcnow())
        console.print(f"prices: {count} hours of real Nord Pool prices (2018 sample), laid onto {min(known)}..{today}")
        model = await market.ensure_model(factory, settings=settings, now=utcnow())
        console.print(f"forecasting model: {model} (LEAR), current for market {market.MARKET}")
    finally:
        await engine.dispose()


def _market_thread(
    settings: Settings, options: DemoOptions, status: Status, stopping: threading.Event, console: Console
) -> None:
    """Plan, bid and lay the live plan, again whenever it has run out, until the demo stops."""
    asyncio.run(_market_loop(settings, options, status, stopping, console))


async def _market_loop(
    settings: Settings, options: DemoOptions, status: Status, stopping: threading.Event, console: Console
) -> None:
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    publisher = MqttPublisher(settings) if settings.mqtt_url else None
    try:
        if publisher is not None:
            await publisher.start()
            if not await publisher.wait_connected(10):
                console.print("the broker does not answer: the devices get their schedules by polling")
        status.stage = "waiting for the batteries to report their state of charge"
        _, unknown = await live.fleet(factory, settings=settings, now=utcnow())
        if unknown:
            now = utcnow()
            await live.check_in(
                factory, settings=settings, device_ids=unknown, t0=now + _LEAD, now=now, publisher=publisher
            )
            console.print(f"{len(unknown)} new batteries: a 10-second check-in charge first, to learn their SoC")
        deadline = time.monotonic() + _SOC_WAIT_S
        while unknown and not stopping.is_set() and time.monotonic() < deadline:
            await asyncio.to_thread(stopping.wait, 1.0)
            _, unknown = await live.fleet(factory, settings=settings, now=utcnow())
        while not stopping.is_set():
            now = utcnow()
            today = local_day(now, market.TIMEZONE)
            status.stage = "forecasting, optimizing and bidding tomorrow"
            _, status.revenue = await market.market_day(
                factory, settings=settings, today=today, now=now, say=console.print, publisher=publisher
            )
            if status.revenue is not None:
                r = status.revenue
                console.print(
                    f"day-ahead bids for {r.day} cleared on the simulated exchange: bought {r.bought_mwh:.3f} MWh, "
                    f"sold {r.sold_mwh:.3f} MWh, revenue {r.revenue:,.2f} EUR (see /market)"
                )
            status.stage = "laying the live plan"
            now = utcnow()
            plan = await live.start(
                factory,
                settings=settings,
                speed=options.speed,
                today=today,
                t0=now + _LEAD,
                now=now,
                publisher=publisher,
            )
            status.plan = plan
            refused = f"; {len(plan.refused)} refused: {next(iter(plan.refused.values()))}" if plan.refused else ""
            after = (plan.start - now).total_seconds() + time.monotonic() - status.started
            console.print(
                f"live: {plan.description}, {plan.devices} batteries, from {after:.0f} s after the start until "
                f"{plan.end:%H:%M:%S} UTC{refused}"
            )
            status.stage = "executing"
            end = min(plan.end, day_bounds(today, market.TIMEZONE)[1]) if options.speed == 1 else plan.end
            await asyncio.to_thread(stopping.wait, max(0.0, (end - utcnow()).total_seconds()))
    finally:
        if publisher is not None:
            await publisher.stop()
        await engine.dispose()


def _announce(
    console: Console,
    options: DemoOptions,
    url: str,
    login: state.Login,
    *,
    first: bool,
    devices: int,
    fleet: FleetOptions,
    redis: bool,
) -> None:
    channel = (
        f"pushed over MQTT (a private Mosquitto on {fleet.mqtt_url}, an account per device; acks and telemetry "
        f"through `gridpilot worker`{'' if redis else ': without Redis the live feed shows them only on reload'})"
        if fleet.mqtt_url
        else f"fetched by HTTP polling every {fleet.poll_interval_s:g} s (install mosquitto for MQTT push)"
    )
    pace = "real time" if options.speed == 1 else f"{options.speed:g}x: a market hour every {60 / options.speed:g} min"
    console.print(
        Panel(
            f"Dashboard: [bold]{url}/[/bold]  log in as [bold]{login.operator}[/bold] with password "
            f"[bold]{login.password}[/bold]\n"
            f"API key (admin): {login.api_key}\n"
            f"{devices} simulated batteries ({fleet.sunspec_devices} behind a SunSpec inverter simulator over "
            f"Modbus TCP); schedules {channel}; pace: {pace}.\n"
            f"State is kept in {options.data_dir} ({'new' if first else 'picked up from the last run'}); "
            f"Ctrl-C stops everything, --reset starts over.",
            title="gridpilot demo",
        )
    )


def _view(status: Status) -> Table:
    table = Table("stage", "devices", "running", "schedules received", "acks sent", "telemetry sent", "revenue (EUR)")
    t = status.totals
    table.add_row(
        status.stage,
        *(str(t.get(k, 0)) for k in ("devices", "running", "schedules_received", "acks_sent")),
        str(t.get("telemetry_sent", 0)),
        f"{status.revenue.revenue:,.2f}" if status.revenue else "-",
    )
    return table


def _summary(console: Console, status: Status) -> None:
    t = status.totals
    lines = [
        f"acks sent: {t.get('acks_sent', 0)}, telemetry points: {t.get('telemetry_sent', 0)}",
        f"first acknowledgement after {status.first_ack_s:.0f} s" if status.first_ack_s is not None else "no ack yet",
    ]
    if status.revenue is not None:
        lines.append(f"revenue of the bids for {status.revenue.day}: {status.revenue.revenue:,.2f} EUR")
    lines.append("stopped everything the demo started. Run it again to pick up the same state (--reset: start over).")
    console.print(Group(*lines))
