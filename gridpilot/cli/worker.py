"""`gridpilot worker`: take the devices' messages (acks, telemetry, status) from MQTT and RabbitMQ into the database.

With GRIDPILOT_MQTT_URL the worker subscribes to the devices' topics and puts each message
on the device-message queue: RabbitMQ when GRIDPILOT_AMQP_URL is set, else straight into
the database. With GRIDPILOT_AMQP_URL it also consumes the RabbitMQ queue in batches, and
solves fleet optimization tasks (`gridpilot.messaging.tasks`).
Only one process may hold the MQTT persistent session; start additional workers with
`gridpilot worker --no-mqtt` to share the RabbitMQ queue.
With GRIDPILOT_REDIS_URL the worker publishes the live events of what it stored to the
servers' dashboards; without it they have no way there (the servers' hubs are in-process).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Annotated, Any

import typer
from prometheus_client import start_http_server

from gridpilot.config import Settings, load_settings
from gridpilot.db import create_engine, create_session_factory
from gridpilot.heap import freeze_startup_heap
from gridpilot.live.bus import LiveBus, open_bus
from gridpilot.messaging.mqtt import MqttConsumer, run_until
from gridpilot.messaging.queue import open_queue
from gridpilot.observability import REGISTRY, configure_logging

log = logging.getLogger("gridpilot.worker")


def worker(
    mqtt: Annotated[
        bool, typer.Option("--mqtt/--no-mqtt", help="Consume the MQTT topics (one worker only: a persistent session)")
    ] = True,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus /metrics on this port (default: off)")
    ] = None,
) -> None:
    """Consume device messages from the MQTT broker and/or RabbitMQ until SIGTERM or Ctrl-C."""
    settings = load_settings()
    use_mqtt = mqtt and bool(settings.mqtt_url)
    if not use_mqtt and not settings.amqp_url:
        raise typer.BadParameter(
            "nothing to consume: set GRIDPILOT_MQTT_URL (e.g. mqtt://127.0.0.1:1883) to read the devices' topics, "
            "and/or GRIDPILOT_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672/) to process the RabbitMQ queue"
        )
    configure_logging(level=settings.log_level, json_logs=settings.log_json)
    if metrics_port is not None:
        start_http_server(metrics_port, registry=REGISTRY)

    async def run() -> None:
        engine = create_engine(settings)
        session_factory = create_session_factory(engine)
        bus = _live_bus(settings)
        queue = await open_queue(settings, session_factory, bus) if use_mqtt else None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        jobs: list[Coroutine[Any, Any, None]] = []
        if queue is not None:
            jobs.append(MqttConsumer(settings, queue).run())
        if settings.amqp_url:
            from gridpilot.messaging.batches import BatchConsumer  # aio-pika only where RabbitMQ is configured
            from gridpilot.messaging.tasks import OptimizationConsumer

            jobs.append(BatchConsumer(settings, session_factory, bus=bus).run())
            jobs.append(OptimizationConsumer(settings).run())
        freeze_startup_heap()
        try:
            await run_until(stop.wait(), _all(jobs))
        finally:
            if queue is not None:
                await queue.close()
            if bus is not None:
                await bus.close()
            await engine.dispose()

    asyncio.run(run())


def _live_bus(settings: Settings) -> LiveBus | None:
    """Redis when configured; else None, said once: a server process cannot hear this process's in-process bus."""
    if settings.redis_url:
        log.info("publishing live events to Redis (channel %s:live)", settings.redis_prefix)
        return open_bus(settings)
    log.warning(
        "GRIDPILOT_REDIS_URL is not set: the dashboards will not show live updates of what this worker stores "
        "(a separate worker reaches the servers' live views only through Redis, e.g. redis://127.0.0.1:6379/0)"
    )
    return None


async def _all(jobs: list[Coroutine[Any, Any, None]]) -> None:
    """Run the consumers together; if one fails, the others are cancelled and the worker exits with the error."""
    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(job)
