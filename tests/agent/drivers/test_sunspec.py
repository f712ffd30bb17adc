"""The SunSpec driver against the simulator, and both against an independent SunSpec client (pysunspec2)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sunspec2
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from gridpilot.agent.drivers import _sunspec_map as sm
from gridpilot.agent.drivers.base import DriverError, InverterState, Setpoint
from gridpilot.agent.drivers.sunspec import SunSpecDriver
from gridpilot.protocol.schedule import Mode
from gridpilot.simulator.inverter import BASE_ADDRESS, InverterSimulator
from tests.simulator.inverter import eventually

MODELS_DIR = Path(sunspec2.__file__).parent / "models" / "json"
CLOCK = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TIMEOUT_S = 0.5


def _standard_offsets(model_id: int) -> dict[str, int]:
    points = json.loads((MODELS_DIR / f"model_{model_id}.json").read_text())["group"]["points"]
    result, offset = {}, 0
    for point in points:
        result[point["name"]] = offset
        offset += point["size"]
    result["size"] = offset
    return result


def test_driver_offsets_are_the_standard_ones() -> None:
    storage, battery, capacity = _standard_offsets(124), _standard_offsets(802), _standard_offsets(713)
    ours = [
        (storage, "size", sm.STORAGE_SIZE),
        (storage, "WChaMax", sm.W_CHA_MAX),
        (storage, "StorCtl_Mod", sm.STOR_CTL_MOD),
        (storage, "ChaState", sm.CHA_STATE),
        (storage, "InBatV", sm.IN_BAT_V),
        (storage, "ChaSt", sm.CHA_ST_124),
        (storage, "OutWRte", sm.OUT_W_RTE),
        (storage, "InWRte", sm.IN_W_RTE),
        (storage, "InOutWRte_RvrtTms", sm.IN_OUT_W_RTE_RVRT_TMS),
        (storage, "WChaMax_SF", sm.W_CHA_MAX_SF),
        (storage, "ChaState_SF", sm.CHA_STATE_SF),
        (storage, "InBatV_SF", sm.IN_BAT_V_SF),
        (storage, "InOutWRte_SF", sm.IN_OUT_W_RTE_SF),
        (battery, "size", sm.BATTERY_SIZE),
        (battery, "SoC", sm.SOC_802),
        (battery, "SoH", sm.SOH_802),
        (battery, "ChaSt", sm.CHA_ST_802),
        (battery, "State", sm.STATE_802),
        (battery, "V", sm.V_802),
        (battery, "W", sm.W_802),
        (battery, "SoC_SF", sm.SOC_SF_802),
        (battery, "SoH_SF", sm.SOH_SF_802),
        (battery, "V_SF", sm.V_SF_802),
        (battery, "W_SF", sm.W_SF_802),
        (capacity, "size", sm.DER_CAPACITY_SIZE),
        (capacity, "SoC", sm.SOC_713),
        (capacity, "SoH", sm.SOH_713),
        (capacity, "Pct_SF", sm.PCT_SF_713),
    ]
    for standard, name, offset in ours:
        assert standard[name] == offset, name


@pytest.fixture
async def simulator() -> AsyncIterator[InverterSimulator]:
    sim = InverterSimulator(capacity_kwh=0.01, max_charge_kw=5.0, max_discharge_kw=5.0, soc_pct=50.0)
    await sim.start("127.0.0.1", 0)
    yield sim
    await sim.stop()


@pytest.fixture
async def driver(simulator: InverterSimulator) -> AsyncIterator[SunSpecDriver]:
    sunspec = SunSpecDriver("127.0.0.1", simulator.port, unit_id=1, timeout_s=TIMEOUT_S, now=lambda: CLOCK)
    await sunspec.connect()
    yield sunspec
    await sunspec.close()


async def test_discovers_the_models(driver: SunSpecDriver) -> None:
    assert driver.models == {1: BASE_ADDRESS + 2, 124: BASE_ADDRESS + 70, 802: BASE_ADDRESS + 96}


async def test_reads_soc_power_and_state(driver: SunSpecDriver) -> None:
    reading = await driver.read()
    assert reading.at == CLOCK
    assert reading.soc_pct == pytest.approx(50.0)
    assert reading.soh_pct == pytest.approx(98.0)
    assert reading.power_kw == 0.0
    assert reading.state is InverterState.IDLE
    assert reading.voltage_v == pytest.approx(50.0)
    assert reading.temperature_c is None  # models 124 and 802 carry no temperature


async def test_charge_discharge_idle(driver: SunSpecDriver, simulator: InverterSimulator) -> None:
    await driver.apply(Setpoint(Mode.CHARGE, 2.0, revert_s=30))
    reading = await driver.read()
    assert reading.power_kw == pytest.approx(2.0)
    assert reading.state is InverterState.CHARGING
    assert simulator.power_kw == pytest.approx(2.0)
    await eventually(lambda: simulator.soc_pct > 52.0)
    assert (await driver.read()).soc_pct > 52.0

    await driver.apply(Setpoint(Mode.DISCHARGE, 3.0, revert_s=30))
    reading = await driver.read()
    assert reading.power_kw == pytest.approx(-3.0)
    assert reading.state is InverterState.DISCHARGING
    soc = simulator.soc_pct
    await eventually(lambda: simulator.soc_pct < soc - 2.0)

    await driver.apply(Setpoint(None, 0.0, revert_s=30))
    reading = await driver.read()
    assert reading.power_kw == 0.0
    assert reading.state is InverterState.IDLE
    assert simulator.mode is None


async def test_every_apply_restarts_the_revert_timer(driver: SunSpecDriver, simulator: InverterSimulator) -> None:
    await driver.apply(Setpoint(Mode.CHARGE, 2.0, revert_s=0.4))  # written as ceil(0.4) = 1 s
    for _ in range(4):
        await asyncio.sleep(0.5)
        await driver.apply(Setpoint(Mode.CHARGE, 2.0, revert_s=0.4))
        assert simulator.mode is Mode.CHARGE
    began = time.monotonic()
    await eventually(lambda: simulator.mode is None, timeout_s=3.0)
    assert time.monotonic() - began > 0.3
    assert (await driver.read()).state is InverterState.IDLE


async def test_rates_are_clamped(driver: SunSpecDriver, simulator: InverterSimulator) -> None:
    await driver.apply(Setpoint(Mode.CHARGE, 50.0, revert_s=30))
    assert (await driver.read()).power_kw == pytest.approx(5.0)
    await driver.apply(Setpoint(Mode.DISCHARGE, 50.0, revert_s=30))
    assert (await driver.read()).power_kw == pytest.approx(-5.0)


async def test_charge_at_full_soc_is_zero(driver: SunSpecDriver, simulator: InverterSimulator) -> None:
    simulator.soc_pct = 100.0
    await driver.apply(Setpoint(Mode.CHARGE, 2.0, revert_s=30))
    reading = await driver.read()
    assert reading.power_kw == 0.0
    assert reading.state is InverterState.IDLE
    assert reading.soc_pct == 100.0


async def test_unresponsive_inverter_raises_then_recovers(driver: SunSpecDriver, simulator: InverterSimulator) -> None:
    simulator.pause()
    began = time.monotonic()
    with pytest.raises(DriverError, match=r"no answer|No response"):
        await driver.read()
    assert time.monotonic() - began < TIMEOUT_S + 0.5
    with pytest.raises(DriverError):
        await driver.apply(Setpoint(Mode.CHARGE, 1.0, revert_s=5))
    with pytest.raises(DriverError):
        await driver.connect()
    simulator.resume()
    await driver.connect()
    assert (await driver.read()).soc_pct == pytest.approx(50.0, abs=1.0)


async def test_stopped_inverter_raises(simulator: InverterSimulator) -> None:
    driver = SunSpecDriver("127.0.0.1", simulator.port, timeout_s=TIMEOUT_S, now=lambda: CLOCK)
    await driver.connect()
    await simulator.stop()
    try:
        with pytest.raises(DriverError):
            await driver.read()
        with pytest.raises(DriverError, match="cannot connect"):
            await driver.connect()
    finally:
        await driver.close()


async def test_read_before_connect_raises() -> None:
    driver = SunSpecDriver("127.0.0.1", 1, now=lambda: CLOCK)
    with pytest.raises(DriverError, match="connect"):
        await driver.read()
    await driver.close()


def _pysunspec_scan_and_command(port: int) -> dict[str, object]:
    """In a thread: scan with pysunspec2, read what it sees, then command charging at 50 %."""
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=2)
    try:
        device.scan()
        storage, battery = device.models[124][0], device.models[802][0]
        seen = {
            "models": sorted(m for m in device.models if isinstance(m, int)),
            "manufacturer": device.models[1][0].Mn.value,
            "soc": battery.SoC.cvalue,
            "w_cha_max": storage.WChaMax.cvalue,
            "cha_st": storage.ChaSt.value,
        }
        storage.StorCtl_Mod.value = 1
        storage.InWRte.cvalue = 50
        storage.write()
        return seen
    finally:
        device.close()


async def test_interoperates_with_pysunspec2(driver: SunSpecDriver, simulator: InverterSimulator) -> None:
    before = await driver.read()
    seen = await asyncio.to_thread(_pysunspec_scan_and_command, simulator.port)
    assert seen["models"] == [1, 124, 802]
    assert seen["manufacturer"] == "gridpilot"
    assert seen["soc"] == pytest.approx(before.soc_pct)
    assert seen["w_cha_max"] == 5000
    assert seen["cha_st"] == 6  # HOLDING, which our driver reads as idle
    assert before.state is InverterState.IDLE
    reading = await driver.read()
    assert reading.power_kw == pytest.approx(2.5)
    assert reading.state is InverterState.CHARGING
    assert simulator.power_kw == pytest.approx(2.5)
