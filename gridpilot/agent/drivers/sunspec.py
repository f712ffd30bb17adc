"""A SunSpec storage inverter over Modbus TCP: reads models 124 and 802 (or 713), commands through model 124.

Power sign: model 802 W is positive when the battery discharges (SunSpec's DER convention), the
agent's power_kw is positive when it charges, so the driver negates it. Every failure (timeout,
lost connection, exception response, a map without the needed models) is a DriverError, and
the connection is dropped on timeouts and I/O errors: call connect() again to recover.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from gridpilot.agent.drivers import _sunspec_map as sm
from gridpilot.agent.drivers.base import DriverError, InverterState, Reading, Setpoint
from gridpilot.protocol.schedule import Mode

_CHARGE_BIT = 0x1
_DISCHARGE_BIT = 0x2


class SunSpecDriver:
    """The Driver protocol for one SunSpec battery inverter reached over Modbus TCP."""

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        unit_id: int = 1,
        timeout_s: float = 2.0,
        now: Callable[[], datetime],
    ) -> None:
        self._host = host
        self._port = port
        self._unit_id = unit_id
        self._timeout_s = timeout_s
        self._now = now
        self._client: AsyncModbusTcpClient | None = None
        self._models: dict[int, sm.ModelBlock] = {}
        self._lock = asyncio.Lock()

    @property
    def models(self) -> dict[int, int]:
        """The SunSpec models found by connect(), by model ID, with the address of each one's ID register."""
        return {model_id: block.address for model_id, block in self._models.items()}

    async def connect(self) -> None:
        """Open a fresh connection and discover the SunSpec map (marker at 40000, 0 or 50000)."""
        async with self._lock:
            self._drop()
            client = AsyncModbusTcpClient(
                self._host, port=self._port, timeout=self._timeout_s, retries=0, reconnect_delay=0
            )
            try:
                async with asyncio.timeout(self._timeout_s):
                    connected = await client.connect()
            except (TimeoutError, OSError, ModbusException) as exc:
                client.close()
                raise DriverError(f"cannot connect to {self._host}:{self._port}: {exc!r}") from exc
            if not connected:
                client.close()
                raise DriverError(f"cannot connect to {self._host}:{self._port}")
            self._client = client
            try:
                models = await sm.discover(self._read)
            except DriverError:
                self._drop()
                raise
            if sm.STORAGE not in models:
                self._drop()
                raise DriverError(f"{self._host}:{self._port} has no SunSpec model 124 (storage controls)")
            self._models = models

    async def read(self) -> Reading:
        """Read models 124 and 802 (or 713), in one request when they lie close together, into a fresh Reading."""
        async with self._lock:
            blocks = {sm.STORAGE: self._block(sm.STORAGE)}
            soc_model = sm.BATTERY if sm.BATTERY in self._models else sm.DER_STORAGE_CAPACITY
            if soc_model in self._models:
                blocks[soc_model] = self._models[soc_model]
            data = await self._read_blocks(blocks)
            at = self._now()
        storage = data[sm.STORAGE]
        battery = data.get(sm.BATTERY)
        capacity = data.get(sm.DER_STORAGE_CAPACITY)
        soc = soh = power_w = voltage = None
        cha_st = sm.unsigned(storage[sm.CHA_ST_124])
        if battery is not None:
            soc = sm.scaled(battery[sm.SOC_802], battery[sm.SOC_SF_802])
            soh = sm.scaled(battery[sm.SOH_802], battery[sm.SOH_SF_802])
            discharge_w = sm.scaled(battery[sm.W_802], battery[sm.W_SF_802], is_signed=True)
            power_w = None if discharge_w is None else -discharge_w
            voltage = sm.scaled(battery[sm.V_802], battery[sm.V_SF_802])
            cha_st = sm.unsigned(battery[sm.CHA_ST_802]) or cha_st
        elif capacity is not None:
            soc = sm.scaled(capacity[sm.SOC_713], capacity[sm.PCT_SF_713])
            soh = sm.scaled(capacity[sm.SOH_713], capacity[sm.PCT_SF_713])
        if soc is None:
            soc = sm.scaled(storage[sm.CHA_STATE], storage[sm.CHA_STATE_SF])
        if soc is None:
            raise DriverError("the inverter reports no state of charge (802 SoC, 713 SoC, 124 ChaState)")
        if power_w is None:
            power_w = _commanded_power_w(storage, cha_st)
        if voltage is None:
            voltage = sm.scaled(storage[sm.IN_BAT_V], storage[sm.IN_BAT_V_SF])
        faulted = battery is not None and battery[sm.STATE_802] == sm.STATE_FAULT
        return Reading(
            at=at,
            soc_pct=soc,
            power_kw=power_w / 1000.0,
            state=_state(cha_st, power_w, faulted=faulted),
            voltage_v=voltage,
            soh_pct=soh,
        )

    async def apply(self, setpoint: Setpoint) -> None:
        """Write the rates (% of WChaMax), the revert timeout, then StorCtl_Mod; each write restarts the fail-safe."""
        async with self._lock:
            storage = (await self._read_blocks({sm.STORAGE: self._block(sm.STORAGE)}))[sm.STORAGE]
            w_cha_max = sm.scaled(storage[sm.W_CHA_MAX], storage[sm.W_CHA_MAX_SF])
            if w_cha_max is None or w_cha_max <= 0:
                raise DriverError(f"model 124 WChaMax is {w_cha_max!r}: cannot express a rate as % of it")
            rate_sf = sm.signed(storage[sm.IN_OUT_W_RTE_SF]) or 0
            rate_pct = min(100.0, max(0.0, setpoint.rate_kw * 1000.0 / w_cha_max * 100.0))
            rate = min(0x7FFF, round(rate_pct / 10.0**rate_sf))  # int16
            out_rate, in_rate, mode_bits = {
                Mode.CHARGE: (0, rate, _CHARGE_BIT),
                Mode.DISCHARGE: (rate, 0, _DISCHARGE_BIT),
                None: (0, 0, 0),
            }[setpoint.mode]
            revert_s = min(0xFFFF, max(0, math.ceil(setpoint.revert_s)))
            address = self._block(sm.STORAGE).address
            await self._write(address + sm.OUT_W_RTE, [out_rate, in_rate], "model 124 OutWRte/InWRte")
            await self._write(address + sm.IN_OUT_W_RTE_RVRT_TMS, [revert_s], "model 124 InOutWRte_RvrtTms")
            await self._write(address + sm.STOR_CTL_MOD, [mode_bits], "model 124 StorCtl_Mod")

    async def close(self) -> None:
        """Close the connection; never raises."""
        self._drop()

    def _block(self, model: int) -> sm.ModelBlock:
        if model not in self._models or self._client is None:
            raise DriverError(f"not connected to {self._host}:{self._port}: call connect() first")
        return self._models[model]

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _read_blocks(self, blocks: dict[int, sm.ModelBlock]) -> dict[int, Sequence[int]]:
        """Each block's registers, fetched in one request when their span fits in one Modbus read."""
        for model in blocks:
            self._block(model)
        first = min(block.address for block in blocks.values())
        span = max(block.address + block.size for block in blocks.values()) - first
        names = "/".join(str(model) for model in blocks)
        if span <= sm.MAX_READ_REGISTERS:
            registers = await self._read(first, span, f"models {names}")
            return {model: registers[b.address - first : b.address - first + b.size] for model, b in blocks.items()}
        return {model: await self._read(b.address, b.size, f"model {model}") for model, b in blocks.items()}

    async def _read(self, address: int, count: int, what: str) -> Sequence[int]:
        response = await self._call(
            lambda client: client.read_holding_registers(address, count=count, device_id=self._unit_id),
            f"reading {what} ({count} registers at {address})",
        )
        if len(response.registers) != count:
            raise DriverError(f"reading {what}: got {len(response.registers)} registers, expected {count}")
        return list(response.registers)

    async def _write(self, address: int, values: list[int], what: str) -> None:
        await self._call(
            lambda client: client.write_registers(address, values, device_id=self._unit_id),
            f"writing {what} at {address}",
        )

    async def _call(self, request: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]], what: str) -> ModbusPDU:
        """One Modbus request, bounded by timeout_s; every way it can fail becomes a DriverError."""
        client = self._client
        if client is None or not client.connected:
            self._drop()
            raise DriverError(f"{what}: not connected to {self._host}:{self._port}")
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await request(client)
        except TimeoutError as exc:
            self._drop()
            raise DriverError(f"{what}: no answer from {self._host}:{self._port} within {self._timeout_s} s") from exc
        except (ModbusException, OSError) as exc:
            self._drop()
            raise DriverError(f"{what}: {exc}") from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            raise sm.ModbusRefused(f"{what}: the device answered with Modbus exception {code}")
        return response


def _commanded_power_w(storage: Sequence[int], cha_st: int | None) -> float:
    """Without model 802 there is no measured power: estimate it from the active 124 command."""
    w_cha_max = sm.scaled(storage[sm.W_CHA_MAX], storage[sm.W_CHA_MAX_SF]) or 0.0
    if cha_st == sm.CHA_ST_CHARGING:
        rate = sm.scaled(storage[sm.IN_W_RTE], storage[sm.IN_OUT_W_RTE_SF], is_signed=True) or 0.0
        return w_cha_max * rate / 100.0
    if cha_st == sm.CHA_ST_DISCHARGING:
        rate = sm.scaled(storage[sm.OUT_W_RTE], storage[sm.IN_OUT_W_RTE_SF], is_signed=True) or 0.0
        return -w_cha_max * rate / 100.0
    return 0.0


def _state(cha_st: int | None, power_w: float, *, faulted: bool) -> InverterState:
    """InverterState from ChaSt, falling back on the sign of the power when ChaSt is not implemented."""
    if faulted:
        return InverterState.FAULT
    if cha_st == sm.CHA_ST_CHARGING or (cha_st is None and power_w > 0):
        return InverterState.CHARGING
    if cha_st == sm.CHA_ST_DISCHARGING or (cha_st is None and power_w < 0):
        return InverterState.DISCHARGING
    return InverterState.IDLE
