"""`gridpilot worker`: take the devices' messages (acks, telemetry, status) from MQTT and RabbitMQ into the database.

With GRIDPILOT_MQTT_URL the worker subscribes to the devices' topics and puts each message
on the device-message queue: RabbitMQ when GRIDPILOT_AMQP_URL is set, else straight into
the database. With GRIDPILOT_AMQP_URL it also consumes the RabbitMQ queue in batches, and
solves fleet optimization tasks (`gridpilot.messaging.tasks`).
Only one process may hold the MQTT persistent session; start additional workers with
`gridpilot worker --no-mqtt` to share the RabbitMQ queue.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Annotated, Any

import typer
from prometheus_client import start_http_server

from gridpilot.config import load_settings
from gridpilot.db import create_engine, create_session_factory
from gridpilot.messaging.mqtt import MqttConsumer, run_until
from gridpilot.messaging.queue import open_queue
from gridpilot.observability import REGISTRY, configure_logging


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
        queue = await open_queue(settings, session_factory) if use_mqtt else None
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

            jobs.append(BatchConsumer(settings, session_factory).run())
            jobs.append(OptimizationConsumer(settings).run())
        try:
            await run_until(stop.wait(), _all(jobs))
        finally:
            if queue is not None:
                await queue.close()
            await engine.dispose()

    asyncio.run(run())


async def _all(jobs: list[Coroutine[Any, Any, None]]) -> None:
    """Run the consumers together; if one fails, the others are cancelled and the worker exits with the error."""
    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(job)
