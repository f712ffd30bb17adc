"""Battery drivers behind one small interface: a simulated battery and SunSpec inverters over Modbus TCP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from gridpilot.agent.drivers.base import Driver

if TYPE_CHECKING:
    from gridpilot.agent.config import AgentConfig


def build_driver(config: AgentConfig, *, now: Callable[[], datetime]) -> Driver:
    """The driver the configuration names; pymodbus is imported only when the SunSpec driver is used."""
    if config.driver.type == "sunspec":
        from gridpilot.agent.drivers.sunspec import SunSpecDriver

        return SunSpecDriver(
            host=config.driver.host,
            port=config.driver.port,
            unit_id=config.driver.unit_id,
            timeout_s=config.driver.timeout_s,
            now=now,
        )
    from gridpilot.agent.drivers.simulated import SimulatedBattery

    return SimulatedBattery(config.limits, now=now, soc_pct=config.driver.initial_soc_pct)
