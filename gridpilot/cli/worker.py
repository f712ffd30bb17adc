"""`gridpilot worker`: process the devices' MQTT messages (acks, telemetry, status) into the database."""

from __future__ import annotations

import asyncio
import signal

import typer

from gridpilot.config import load_settings
from gridpilot.db import create_engine, create_session_factory
from gridpilot.messaging.mqtt import MqttConsumer, run_until
from gridpilot.observability import configure_logging


def worker() -> None:
    """Consume every device's acks, telemetry and status from the broker until SIGTERM or Ctrl-C."""
    settings = load_settings()
    if not settings.mqtt_url:
        raise typer.BadParameter(
            "set GRIDPILOT_MQTT_URL (e.g. mqtt://127.0.0.1:1883): the worker reads from the broker"
        )
    configure_logging(level=settings.log_level, json_logs=settings.log_json)

    async def run() -> None:
        engine = create_engine(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_until(stop.wait(), MqttConsumer(settings, create_session_factory(engine)).run())
        finally:
            await engine.dispose()

    asyncio.run(run())
