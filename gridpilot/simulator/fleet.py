"""A fleet of simulated devices: real agents (simulated batteries) by the hundreds per asyncio process.

Each device gets its own identity and credential (registered once through the API and
kept in data_dir/credentials.json, so a rerun is the same fleet), its own local store and,
with a broker, its own MQTT connection. The devices share an HTTP connection pool per
process. Progress goes to a callback every second: the CLI draws it, benchmarks read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from gridpilot.agent import Agent
from gridpilot.agent._transport import CloudClient
from gridpilot.agent.clock import SystemClock
from gridpilot.agent.config import AgentConfig
from gridpilot.agent.drivers.base import Driver
from gridpilot.agent.drivers.simulated import SimulatedBattery
from gridpilot.agent.drivers.sunspec import SunSpecDriver
from gridpilot.protocol.battery import BatteryLimits
from gridpilot.simulator.inverter import InverterSimulator

log = logging.getLogger("gridpilot.simulate")
LIMITS = BatteryLimits(
    capacity_kwh=10.0,
    max_charge_kw=5.0,
    max_discharge_kw=5.0,
    min_soc_pct=5.0,
    max_soc_pct=95.0,
    charge_efficiency=0.95,
    discharge_efficiency=0.95,
)
_REGISTER_CONCURRENCY = 16
_STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """How many devices, where the cloud is, and the agents' timings (slower than a real agent's by default)."""

    devices: int
    server_url: str
    data_dir: Path
    mqtt_url: str | None = None
    mqtt_prefix: str = "gridpilot/v1"
    id_prefix: str = "sim"
    processes: int = 1
    poll_interval_s: float = 300.0
    control_tick_s: float = 5.0
    telemetry_interval_s: float = 60.0
    heartbeat_interval_s: float = 60.0
    tags: tuple[str, ...] = ()  # added to every device's tags at registration (e.g. market:NP)
    sunspec_devices: int = 0  # the first N devices run behind a SunSpec inverter simulator (the Modbus path)
    initial_soc_pct: float | None = None  # every battery's SoC at start; None: spread over 20..79 %


SUNSPEC_TAG = "modbus-sunspec"

Progress = Callable[[dict[str, int]], None]


def device_ids(options: FleetOptions) -> list[str]:
    """The fleet's device ids, stable across runs."""
    return [f"{options.id_prefix}-{n:05d}" for n in range(options.devices)]


async def provision(options: FleetOptions, admin_key: str, progress: Callable[[int], None]) -> dict[str, str]:
    """Register the devices not registered yet (or give a known one a new credential); returns id -> credential."""
    path = options.data_dir / "credentials.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = device_ids(options)
    missing = [device_id for device_id in wanted if device_id not in known]
    sunspec = set(wanted[: options.sunspec_devices])
    limit = asyncio.Semaphore(_REGISTER_CONCURRENCY)
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=options.server_url, headers=headers, timeout=30) as http:

        async def register(device_id: str) -> None:
            async with limit:
                body = {
                    "id": device_id,
                    "name": device_id,
                    "site": options.id_prefix,
                    "capacity_kwh": 10,
                    "max_charge_kw": 5,
                    "max_discharge_kw": 5,
                    "min_soc_pct": 5,
                    "max_soc_pct": 95,
                    "tags": ["simulated", *options.tags, *([SUNSPEC_TAG] if device_id in sunspec else [])],
                }
                response = await http.post("/api/v1/devices", json=body)
                if response.status_code == 409:  # registered by an earlier run whose credentials file is gone
                    response = await http.post(f"/api/v1/devices/{device_id}/credentials")
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"registering {device_id}: HTTP {response.status_code} {response.text[:300]}")
                known[device_id] = response.json()["credential"]
                progress(1)

        try:
            await asyncio.gather(*(register(device_id) for device_id in missing))
        finally:
            options.data_dir.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(known))
            os.replace(temporary, path)
    return {device_id: known[device_id] for device_id in wanted}


def agent_config(options: FleetOptions, device_id: str, credential: str) -> AgentConfig:
    """One simulated device's agent configuration."""
    return AgentConfig(
        server_url=options.server_url,
        device_id=device_id,
        credential=credential,
        limits=LIMITS,
        data_dir=options.data_dir / "agents" / device_id,
        mqtt_url=options.mqtt_url,
        mqtt_prefix=options.mqtt_prefix,
        poll_interval_s=options.poll_interval_s,
        control_tick_s=options.control_tick_s,
        telemetry_interval_s=options.telemetry_interval_s,
        heartbeat_interval_s=options.heartbeat_interval_s,
        durable_store=False,
    )


async def run_devices(
    options: FleetOptions, credentials: dict[str, str], stop: asyncio.Event, progress: Progress, seed: int = 0
) -> None:
    """Run one agent per device in this event loop until `stop`; report totals every second."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    clock = SystemClock()
    sunspec = set(device_ids(options)[: options.sunspec_devices])
    inverters: list[InverterSimulator] = []
    async with httpx.AsyncClient(timeout=30, limits=limits) as http, contextlib.AsyncExitStack() as cleanup:
        cleanup.push_async_callback(_stop_inverters, inverters)
        agents = []
        for n, (device_id, credential) in enumerate(sorted(credentials.items())):
            config = agent_config(options, device_id, credential)
            soc = options.initial_soc_pct if options.initial_soc_pct is not None else 20 + (seed + n) % 60
            battery: Driver
            if device_id in sunspec:
                battery = await _inverter(inverters, soc_pct=soc, serial=device_id, now=clock.now)
            else:
                battery = SimulatedBattery(LIMITS, now=clock.now, soc_pct=soc, noise=0.01, seed=seed + n)
            client = CloudClient(
                server_url=options.server_url, device_id=device_id, credential=credential, timeout_s=30, http=http
            )
            agents.append(Agent(config, driver=battery, client=client, clock=clock))
        tasks = [asyncio.create_task(agent.run(stop)) for agent in agents]
        try:
            while not stop.is_set():
                progress(_totals(agents, tasks))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            stop.set()
            _, stuck = await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S)
            if stuck:  # the fleet must end even if an agent does not: say so, then cancel those
                log.warning(
                    "%s of %s agents did not stop within %.0f s; cancelling them",
                    len(stuck),
                    len(agents),
                    _STOP_TIMEOUT_S,
                )
                for task in stuck:
                    task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            progress(_totals(agents, tasks))
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.error("%s of %s agents ended with an error; first: %r", len(failed), len(agents), failed[0])


async def _inverter(
    inverters: list[InverterSimulator], *, soc_pct: float, serial: str, now: Callable[[], datetime]
) -> Driver:
    """A SunSpec inverter simulator on a free local port, and the agent's Modbus driver talking to it."""
    simulator = InverterSimulator(
        capacity_kwh=LIMITS.capacity_kwh,
        max_charge_kw=LIMITS.max_charge_kw,
        max_discharge_kw=LIMITS.max_discharge_kw,
        efficiency=LIMITS.charge_efficiency,
        soc_pct=soc_pct,
        min_reserve_pct=LIMITS.min_soc_pct,
        serial_number=serial[-16:],
    )
    port = await simulator.start("127.0.0.1", 0)
    inverters.append(simulator)
    return SunSpecDriver("127.0.0.1", port, now=now)


async def _stop_inverters(inverters: list[InverterSimulator]) -> None:
    for simulator in inverters:
        await simulator.stop()


def _totals(agents: list[Agent], tasks: list[asyncio.Task[None]]) -> dict[str, int]:
    sent: Counter[str] = Counter()
    for agent in agents:
        sent.update(agent.sent)
    return {
        "devices": len(agents),
        "running": sum(not task.done() for task in tasks),
        "mqtt_connected": sum(agent.mqtt_connected for agent in agents),
        "schedules_received": sum(agent.views_accepted for agent in agents),
        "acks_sent": sent["ack"],
        "telemetry_sent": sent["telemetry"],
    }


def run_fleet(
    options: FleetOptions,
    credentials: dict[str, str],
    progress: Progress,
    duration_s: float | None,
    stop_requested: threading.Event | None = None,
) -> None:
    """Split the fleet over `processes` processes (this one included); progress sums all of them.

    Runs until SIGINT/SIGTERM, `duration_s`, or `stop_requested` (for callers in another thread).
    """
    ids = sorted(credentials)
    slices = [ids[i :: options.processes] for i in range(options.processes)]
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    children = [
        context.Process(target=_child, args=(options, {d: credentials[d] for d in part}, reports, index), daemon=True)
        for index, part in enumerate(slices[1:], start=1)
    ]
    for child in children:
        child.start()
    latest: dict[int, dict[str, int]] = {}

    def collect(own: dict[str, int]) -> None:
        latest[0] = own
        while True:  # empty() may say no while get_nowait() still finds nothing: a multiprocessing queue's pipe
            try:
                index, totals = reports.get_nowait()
            except queue.Empty:
                break
            latest[index] = totals
        summed: Counter[str] = Counter()
        for totals in latest.values():
            summed.update(totals)
        progress(dict(summed))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
        if duration_s is not None:
            loop.call_later(duration_s, stop.set)
        watcher = asyncio.create_task(_watch(stop_requested, stop)) if stop_requested is not None else None
        try:
            await run_devices(options, {d: credentials[d] for d in slices[0]}, stop, collect)
        finally:
            if watcher is not None:
                watcher.cancel()

    try:
        asyncio.run(main())
    finally:
        for child in children:
            if child.is_alive():
                os.kill(child.pid or 0, signal.SIGTERM)
        for child in children:
            child.join(30)
        while True:  # the children's last words (their final totals) may still be in the pipe
            try:
                index, totals = reports.get(timeout=0.5)
            except queue.Empty:
                break
            latest[index] = totals
        collect(latest.get(0, {}))


async def _watch(requested: threading.Event, stop: asyncio.Event) -> None:
    while not requested.is_set():  # noqa: ASYNC110 - a threading.Event set by another thread: polled, not awaited
        await asyncio.sleep(0.2)
    stop.set()


def _child(options: FleetOptions, credentials: dict[str, str], reports: Any, index: int) -> None:
    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)  # Ctrl-C reaches the whole process group
        await run_devices(options, credentials, stop, lambda totals: reports.put((index, totals)), seed=index * 100_000)

    asyncio.run(main())
    reports.close()
    reports.join_thread()  # the final totals reach the parent before this process ends
