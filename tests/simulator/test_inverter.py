"""The simulator lays out SunSpec exactly as the standard defines it and behaves like a battery inverter."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sunspec2
from pymodbus.client import AsyncModbusTcpClient

from gridpilot.agent.drivers.base import DriverError
from gridpilot.agent.drivers.sunspec import SunSpecDriver
from gridpilot.protocol.schedule import Mode
from gridpilot.simulator._sunspec_models import BATTERY, COMMON, MODEL_POINTS, STORAGE, block_length, offsets
from gridpilot.simulator.inverter import BASE_ADDRESS, ChargeStatus, InverterSimulator
from tests.simulator.inverter import eventually

MODELS_DIR = Path(sunspec2.__file__).parent / "models" / "json"


def _standard_points(model_id: int) -> list[dict[str, object]]:
    definition = json.loads((MODELS_DIR / f"model_{model_id}.json").read_text())
    assert not definition["group"].get("groups"), "repeating groups are not simulated"
    return list(definition["group"]["points"])


@pytest.mark.parametrize("model_id", [COMMON, STORAGE, BATTERY])
def test_point_table_is_the_standard_layout(model_id: int) -> None:
    standard = _standard_points(model_id)
    ours = MODEL_POINTS[model_id]
    assert [(p["name"], p["type"], p["size"], p.get("sf")) for p in standard] == [
        (p.name, p.type, p.size, p.sf) for p in ours
    ]
    assert [p.name for p in ours if p.writable] == [p["name"] for p in standard if p.get("access") == "RW"]
    assert block_length(model_id) == sum(int(str(p["size"])) for p in standard) - 2


@pytest.fixture
async def simulator() -> AsyncIterator[InverterSimulator]:
    sim = InverterSimulator(capacity_kwh=0.01, max_charge_kw=5.0, max_discharge_kw=4.0, soc_pct=50.0)
    await sim.start("127.0.0.1", 0)
    yield sim
    await sim.stop()


@pytest.fixture
async def client(simulator: InverterSimulator) -> AsyncIterator[AsyncModbusTcpClient]:
    modbus = AsyncModbusTcpClient("127.0.0.1", port=simulator.port, timeout=2, retries=0, reconnect_delay=0)
    assert await modbus.connect()
    yield modbus
    modbus.close()


def _address(model_id: int, point: str) -> int:
    address = BASE_ADDRESS + 2
    for model in (COMMON, STORAGE, BATTERY):
        if model == model_id:
            return address + offsets(model)[point]
        address += block_length(model) + 2
    raise AssertionError(model_id)


async def _write(client: AsyncModbusTcpClient, point: str, value: int) -> None:
    response = await client.write_register(_address(STORAGE, point), value & 0xFFFF, device_id=1)
    assert not response.isError(), response


async def test_map_starts_with_suns_and_ends_with_the_end_marker(client: AsyncModbusTcpClient) -> None:
    head = await client.read_holding_registers(BASE_ADDRESS, count=4, device_id=1)
    assert head.registers == [0x5375, 0x6E53, COMMON, 66]
    end = _address(BATTERY, "ID") + block_length(BATTERY) + 2
    tail = await client.read_holding_registers(end, count=2, device_id=1)
    assert tail.registers == [0xFFFF, 0]
    assert (await client.read_holding_registers(0, count=2, device_id=1)).isError()


async def test_charge_moves_soc_with_the_efficiency(simulator: InverterSimulator, client: AsyncModbusTcpClient) -> None:
    await _write(client, "InWRte", 4000)  # 40.00 % of WChaMax 5 kW = 2 kW
    await _write(client, "StorCtl_Mod", 1)
    assert simulator.power_kw == pytest.approx(2.0)
    assert simulator.mode is Mode.CHARGE
    assert simulator.charge_status is ChargeStatus.CHARGING
    start, began = simulator.soc_pct, time.monotonic()
    await asyncio.sleep(1.0)
    elapsed_h = (time.monotonic() - began) / 3600
    expected_gain = 2.0 * elapsed_h * 0.95 / 0.01 * 100
    assert simulator.soc_pct - start == pytest.approx(expected_gain, rel=0.3)
    soc = (await client.read_holding_registers(_address(BATTERY, "SoC"), count=1, device_id=1)).registers[0]
    assert soc / 100 == pytest.approx(simulator.soc_pct, abs=1.0)
    watts = (await client.read_holding_registers(_address(BATTERY, "W"), count=1, device_id=1)).registers[0]
    assert watts == 0x10000 - 2000  # 802 W is negative while charging


async def test_rates_are_clamped_to_the_rating(simulator: InverterSimulator, client: AsyncModbusTcpClient) -> None:
    await _write(client, "InWRte", 15000)  # 150 %
    await _write(client, "StorCtl_Mod", 1)
    assert simulator.power_kw == pytest.approx(5.0)
    await _write(client, "OutWRte", 10000)  # 100 % of WChaMax 5 kW, but discharge is rated 4 kW
    await _write(client, "StorCtl_Mod", 2)
    assert simulator.power_kw == pytest.approx(-4.0)


async def test_charge_at_full_soc_gives_zero(simulator: InverterSimulator, client: AsyncModbusTcpClient) -> None:
    simulator.soc_pct = 99.9
    await _write(client, "InWRte", 10000)
    await _write(client, "StorCtl_Mod", 1)
    await eventually(lambda: simulator.soc_pct == 100.0)
    assert simulator.power_kw == 0.0
    assert simulator.charge_status is ChargeStatus.FULL


async def test_discharge_stops_at_the_reserve(simulator: InverterSimulator, client: AsyncModbusTcpClient) -> None:
    simulator.soc_pct = 10.5
    await _write(client, "OutWRte", 10000)
    await _write(client, "StorCtl_Mod", 2)
    assert simulator.power_kw < 0
    await eventually(lambda: simulator.power_kw == 0.0)
    assert simulator.soc_pct == pytest.approx(10.0)
    assert simulator.charge_status is ChargeStatus.EMPTY


async def test_revert_timer_returns_to_idle(simulator: InverterSimulator, client: AsyncModbusTcpClient) -> None:
    await _write(client, "InOutWRte_RvrtTms", 1)
    await _write(client, "InWRte", 2000)
    await _write(client, "StorCtl_Mod", 1)
    assert simulator.power_kw > 0
    await eventually(lambda: simulator.power_kw == 0.0, timeout_s=3.0)
    assert simulator.point(STORAGE, "StorCtl_Mod") == 0
    assert simulator.point(STORAGE, "InWRte") == 0


async def test_read_only_points_refuse_writes(simulator: InverterSimulator, client: AsyncModbusTcpClient) -> None:
    response = await client.write_register(_address(STORAGE, "ChaState"), 0, device_id=1)
    assert response.isError()
    assert simulator.soc_pct == 50.0


async def test_pause_holds_requests_until_resume(simulator: InverterSimulator) -> None:
    modbus = AsyncModbusTcpClient("127.0.0.1", port=simulator.port, timeout=0.3, retries=0, reconnect_delay=0)
    assert await modbus.connect()
    try:
        simulator.pause()
        with pytest.raises(Exception, match="No response"):
            await modbus.read_holding_registers(BASE_ADDRESS, count=2, device_id=1)
    finally:
        modbus.close()
    simulator.resume()
    async with AsyncModbusTcpClient("127.0.0.1", port=simulator.port, timeout=2, retries=0) as again:
        assert (await again.read_holding_registers(BASE_ADDRESS, count=2, device_id=1)).registers == [0x5375, 0x6E53]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until_driver_error(driver: SunSpecDriver, deadline_s: float = 5.0) -> DriverError:
    """Read until the driver fails (a signal to another process takes effect a moment later)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            await driver.read()
        except DriverError as exc:
            return exc
        await asyncio.sleep(0.05)
    raise AssertionError("the simulator kept answering")


async def _connecteventually(driver: SunSpecDriver, deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            await driver.connect()
            return
        except DriverError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_cli_serves_until_sigint_and_sigusr1_toggles_unresponsive() -> None:
    port = _free_port()
    code = "from gridpilot.cli.sim import app; app()"
    arguments = ["inverter", "--port", str(port), "--capacity-kwh", "1", "--soc", "80"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert f"127.0.0.1:{port}" in line.decode()
        driver = SunSpecDriver("127.0.0.1", port, timeout_s=0.5, now=lambda: datetime.now(UTC))
        await driver.connect()
        try:
            assert (await driver.read()).soc_pct == pytest.approx(80.0, abs=0.5)
            process.send_signal(signal.SIGUSR1)  # stop answering
            await _until_driver_error(driver)
            process.send_signal(signal.SIGUSR1)  # answer again
            await _connecteventually(driver)
            assert (await driver.read()).soc_pct == pytest.approx(80.0, abs=0.5)
        finally:
            await driver.close()
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
