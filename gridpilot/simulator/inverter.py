"""A SunSpec battery inverter on Modbus TCP whose battery really charges and discharges, to test the agent against.

The map starts at holding register 40000: "SunS", model 1 (common), model 124 (basic storage
controls), model 802 (battery base), end marker. Control follows model 124: StorCtl_Mod bit 0
charges at InWRte % of WChaMax, bit 1 discharges at OutWRte % of WChaMax (both bits or none:
idle), and InOutWRte_RvrtTms > 0 returns the inverter to idle that many seconds after the last
control write. Model 802 W follows SunSpec's DER sign convention (as model 701 states it:
positive = generation): W > 0 discharges the battery, W < 0 charges it.

pause()/resume() make it stop answering (requests are held unanswered, so clients time out);
`run()` also toggles that on SIGUSR1, for tests that drive the simulator in another process.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import Callable, Sequence
from enum import IntEnum

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gridpilot.protocol.schedule import Mode
from gridpilot.simulator._sunspec_models import (
    BATTERY,
    COMMON,
    MODEL_POINTS,
    NOT_IMPLEMENTED,
    STORAGE,
    block_length,
    offsets,
)

BASE_ADDRESS = 40000
_MODELS = (COMMON, STORAGE, BATTERY)
_CONTROL_POINTS = frozenset(
    {"StorCtl_Mod", "InWRte", "OutWRte", "InOutWRte_WinTms", "InOutWRte_RvrtTms", "InOutWRte_RmpTms"}
)
_CHARGE_BIT = 0x1
_DISCHARGE_BIT = 0x2
_CONNECTED = 3
_LITHIUM_ION = 4
_INVERTER_STARTED = 3
_NOMINAL_V = 51.2


class ChargeStatus(IntEnum):
    """ChaSt as SunSpec enumerates it (models 124 and 802)."""

    OFF = 1
    EMPTY = 2
    DISCHARGING = 3
    CHARGING = 4
    FULL = 5
    HOLDING = 6


def _fit_sf(largest: float, limit: int, finest: int) -> int:
    """The finest scale factor (from `finest` up) at which `largest` still fits under `limit`."""
    sf = finest
    while abs(largest) / 10.0**sf > limit:
        sf += 1
    return sf


def _register(value: float, sf: int = 0, *, signed: bool = False) -> int:
    """value / 10**sf as one register, saturated to the type's range (two's complement when signed)."""
    raw = round(value / 10.0**sf)
    if signed:
        return max(-0x7FFF, min(0x7FFF, raw)) & 0xFFFF
    return max(0, min(0xFFFE, raw))


def _signed(register: int) -> int:
    return register - 0x10000 if register & 0x8000 else register


class InverterSimulator:
    """One simulated SunSpec storage inverter: a Modbus TCP server and a battery that follows the commanded power."""

    def __init__(
        self,
        *,
        capacity_kwh: float = 10.0,
        max_charge_kw: float = 5.0,
        max_discharge_kw: float = 5.0,
        efficiency: float = 0.95,
        soc_pct: float = 50.0,
        soh_pct: float = 98.0,
        min_reserve_pct: float = 10.0,
        serial_number: str = "SIM-0001",
        tick_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity_kwh <= 0 or max_charge_kw <= 0 or max_discharge_kw <= 0:
            raise ValueError("capacity_kwh, max_charge_kw and max_discharge_kw must be positive")
        if not 0 < efficiency <= 1:
            raise ValueError("efficiency must be in (0, 1]")
        if not 0 <= soc_pct <= 100 or not 0 <= min_reserve_pct <= 100:
            raise ValueError("soc_pct and min_reserve_pct must be percentages")
        self.capacity_kwh = capacity_kwh
        self.max_charge_kw = max_charge_kw
        self.max_discharge_kw = max_discharge_kw
        self.efficiency = efficiency
        self.soh_pct = soh_pct
        self.serial_number = serial_number
        self._tick_s = tick_s
        self._clock = clock
        self._soc_pct = soc_pct
        self._power_w = 0.0
        self._discharged_kwh = 0.0
        self._started_at = clock()
        self._last_tick = self._started_at
        self._last_control_write = self._started_at
        self._responsive = asyncio.Event()
        self._responsive.set()
        self._server: ModbusTcpServer | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._host = ""
        self._port = 0
        self._offsets = {model: offsets(model) for model in _MODELS}
        self._starts: dict[int, int] = {}
        self._writable: set[int] = set()
        self._sf = self._scale_factors()
        self._regs = self._build_map(min_reserve_pct)
        self._refresh()

    # --- public surface -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start serving and simulating; returns the bound port (0 picks a free one), OSError if it cannot listen."""
        device = SimDevice(
            id=0,
            simdata=SimData(BASE_ADDRESS, values=list(self._regs), datatype=DataType.REGISTERS),
            action=self._on_request,
        )
        self._server = ModbusTcpServer(context=device, address=(host, port))
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError as exc:
            self._server = None
            raise OSError(f"cannot listen on {host}:{port} ({exc})") from exc
        sockets = getattr(self._server.transport, "sockets", None)
        self._host, self._port = host, int(sockets[0].getsockname()[1]) if sockets else port
        self._last_tick = self._clock()
        self._ticker = asyncio.create_task(self._tick_forever(), name="inverter-simulator-physics")
        return self._port

    async def stop(self) -> None:
        """Stop serving and simulating; held (paused) requests are released first."""
        self._responsive.set()
        await asyncio.sleep(0)
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
            self._server = None

    @property
    def port(self) -> int:
        """The TCP port the simulator listens on (after start)."""
        return self._port

    def pause(self) -> None:
        """Stop answering: requests are held without a response until resume(), like a hung inverter."""
        self._responsive.clear()

    def resume(self) -> None:
        """Answer requests again (held ones are answered too, late)."""
        self._responsive.set()

    @property
    def paused(self) -> bool:
        """Whether the simulator is currently not answering."""
        return not self._responsive.is_set()

    @property
    def soc_pct(self) -> float:
        """State of charge in percent of capacity."""
        return self._soc_pct

    @soc_pct.setter
    def soc_pct(self, value: float) -> None:
        self._soc_pct = min(100.0, max(0.0, value))
        self._refresh()

    @property
    def power_kw(self) -> float:
        """Battery power in the agent's sign convention: > 0 charging, < 0 discharging."""
        return self._power_w / 1000.0

    @property
    def mode(self) -> Mode | None:
        """What the battery is actually doing: CHARGE, DISCHARGE, or None when idle."""
        if self._power_w > 0:
            return Mode.CHARGE
        if self._power_w < 0:
            return Mode.DISCHARGE
        return None

    @property
    def charge_status(self) -> ChargeStatus:
        """ChaSt as the inverter reports it."""
        return ChargeStatus(self._point(STORAGE, "ChaSt"))

    def point(self, model_id: int, name: str) -> int:
        """The raw register of a one-register point, for assertions on what clients wrote."""
        return self._point(model_id, name)

    # --- the register map -----------------------------------------------------------------------

    def _scale_factors(self) -> dict[str, int]:
        """Scale factors fine enough for small test batteries, coarse enough that the ratings fit their registers."""
        max_w = max(self.max_charge_kw, self.max_discharge_kw) * 1000.0
        capacity_ah = self.capacity_kwh * 1000.0 / _NOMINAL_V
        return {
            "WChaMax_SF": _fit_sf(self.max_charge_kw * 1000.0, 0xFFFE, 0),
            "WChaDisChaGra_SF": 0,
            "MinRsvPct_SF": -2,
            "ChaState_SF": -2,
            "StorAval_SF": _fit_sf(capacity_ah, 0xFFFE, -2),
            "InBatV_SF": -1,
            "InOutWRte_SF": -2,
            "AHRtg_SF": _fit_sf(capacity_ah, 0xFFFE, -2),
            "WHRtg_SF": _fit_sf(self.capacity_kwh * 1000.0, 0xFFFE, 0),
            "WChaDisChaMax_SF": _fit_sf(max_w, 0xFFFE, 0),
            "SoC_SF": -2,
            "DoD_SF": -2,
            "SoH_SF": -1,
            "V_SF": -1,
            "CellV_SF": -3,
            "A_SF": _fit_sf(max_w / 40.0, 0x7FFF, -1),
            "AMax_SF": 0,
            "W_SF": _fit_sf(max_w, 0x7FFF, 0),
        }

    def _build_map(self, min_reserve_pct: float) -> list[int]:
        regs = [0x5375, 0x6E53]  # "SunS"
        for model in _MODELS:
            start = BASE_ADDRESS + len(regs)
            self._starts[model] = start
            offset = 0
            for point in MODEL_POINTS[model]:
                regs.extend([NOT_IMPLEMENTED[point.type]] * point.size)
                if point.writable:
                    self._writable.update(range(start + offset, start + offset + point.size))
                offset += point.size
        regs.extend([0xFFFF, 0])
        self._regs = regs
        for name, exponent in self._sf.items():
            model = STORAGE if name in self._offsets[STORAGE] else BATTERY
            self._set(model, name, exponent & 0xFFFF)
        for model in _MODELS:
            self._set(model, "ID", model)
            self._set(model, "L", block_length(model))
        self._set_string("Mn", "gridpilot")
        self._set_string("Md", "sim-inverter")
        self._set_string("Vr", "1.0")
        self._set_string("SN", self.serial_number)
        self._set(COMMON, "DA", 1)
        sf = self._sf
        nominal_w = {
            "WChaMax": (self.max_charge_kw * 1000.0, "WChaMax_SF"),
            "WChaRteMax": (self.max_charge_kw * 1000.0, "WChaDisChaMax_SF"),
            "WDisChaRteMax": (self.max_discharge_kw * 1000.0, "WChaDisChaMax_SF"),
        }
        for name, (watts, sf_name) in nominal_w.items():
            self._set(STORAGE if name == "WChaMax" else BATTERY, name, _register(watts, sf[sf_name]))
        for name in ("WChaGra", "WDisChaGra"):
            self._set(STORAGE, name, 100)
        for name in ("StorCtl_Mod", "OutWRte", "InWRte", "InOutWRte_WinTms", "InOutWRte_RvrtTms", "InOutWRte_RmpTms"):
            self._set(STORAGE, name, 0)
        self._set(STORAGE, "MinRsvPct", _register(min_reserve_pct, sf["MinRsvPct_SF"]))
        self._set(STORAGE, "ChaGriSet", 1)
        self._set(BATTERY, "AHRtg", _register(self.capacity_kwh * 1000.0 / _NOMINAL_V, sf["AHRtg_SF"]))
        self._set(BATTERY, "WHRtg", _register(self.capacity_kwh * 1000.0, sf["WHRtg_SF"]))
        self._set(BATTERY, "SoCMax", _register(100.0, sf["SoC_SF"]))
        self._set(BATTERY, "SoCMin", 0)
        self._set(BATTERY, "SocRsvMax", _register(100.0, sf["SoC_SF"]))
        self._set(BATTERY, "SoCRsvMin", _register(min_reserve_pct, sf["SoC_SF"]))
        for name, value in {"LocRemCtl": 0, "CtrlHb": 0, "AlmRst": 0, "Typ": _LITHIUM_ION, "State": _CONNECTED}.items():
            self._set(BATTERY, name, value)
        for name in ("Evt1", "Evt2", "EvtVnd1", "EvtVnd2"):
            self._set(BATTERY, name, 0, size=2)
        self._set(BATTERY, "ReqInvState", 0)
        self._set(BATTERY, "SetOp", 1)
        self._set(BATTERY, "SetInvState", _INVERTER_STARTED)
        return regs

    def _index(self, model: int, name: str) -> int:
        return self._starts[model] + self._offsets[model][name] - BASE_ADDRESS

    def _set(self, model: int, name: str, value: int, *, size: int = 1) -> None:
        index = self._index(model, name)
        if size == 2:
            self._regs[index : index + 2] = [(value >> 16) & 0xFFFF, value & 0xFFFF]
        else:
            self._regs[index] = value & 0xFFFF

    def _set_string(self, name: str, text: str) -> None:
        size = next(point.size for point in MODEL_POINTS[COMMON] if point.name == name)
        data = text.encode()[: size * 2].ljust(size * 2, b"\0")
        index = self._index(COMMON, name)
        self._regs[index : index + size] = [int.from_bytes(data[i : i + 2], "big") for i in range(0, size * 2, 2)]

    def _point(self, model: int, name: str) -> int:
        return self._regs[self._index(model, name)]

    def _scaled(self, model: int, name: str, sf_name: str, *, signed: bool = False) -> float:
        raw = self._point(model, name)
        return (_signed(raw) if signed else raw) * 10.0 ** self._sf[sf_name]

    # --- Modbus requests ------------------------------------------------------------------------

    async def _on_request(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Serve reads from the live map; apply writes to writable points only, then act on them."""
        await self._responsive.wait()
        first = address - BASE_ADDRESS
        if set_values is not None:
            if any(a not in self._writable for a in range(address, address + len(set_values))):
                return ExcCodes.ILLEGAL_ADDRESS
            self._regs[first : first + len(set_values)] = [int(v) & 0xFFFF for v in set_values]
            self._after_write(range(address, address + len(set_values)))
        begin = start_address - BASE_ADDRESS
        current_registers[first - begin : first - begin + count] = self._regs[first : first + count]
        return None

    def _after_write(self, addresses: Sequence[int]) -> None:
        storage = self._starts[STORAGE]
        touched = {name for name, offset in self._offsets[STORAGE].items() if storage + offset in addresses}
        if touched & _CONTROL_POINTS:
            self._last_control_write = self._clock()
        self._refresh()

    # --- physics --------------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            self._tick()

    def _tick(self) -> None:
        """Advance the battery by the real time since the last tick, then apply the revert timer."""
        now = self._clock()
        dt_h = (now - self._last_tick) / 3600.0
        self._last_tick = now
        power_kw = self._commanded_power_w() / 1000.0
        if power_kw > 0:
            stored_kwh = power_kw * dt_h * self.efficiency
        else:
            stored_kwh = power_kw * dt_h / self.efficiency
            self._discharged_kwh -= power_kw * dt_h
        low, high = self._reserve_pct()
        soc = self._soc_pct + stored_kwh / self.capacity_kwh * 100.0
        self._soc_pct = min(max(soc, min(low, self._soc_pct)), max(high, self._soc_pct))
        revert_s = self._point(STORAGE, "InOutWRte_RvrtTms")
        if revert_s > 0 and now - self._last_control_write >= revert_s:
            for name in ("StorCtl_Mod", "InWRte", "OutWRte"):
                self._set(STORAGE, name, 0)
        self._refresh()

    def _reserve_pct(self) -> tuple[float, float]:
        """The SoC band the inverter keeps to: (MinRsvPct or SoCRsvMin, whichever is higher; SocRsvMax)."""
        low = max(
            self._scaled(STORAGE, "MinRsvPct", "MinRsvPct_SF"),
            self._scaled(BATTERY, "SoCRsvMin", "SoC_SF"),
        )
        return low, min(100.0, self._scaled(BATTERY, "SocRsvMax", "SoC_SF"))

    def _commanded_power_w(self) -> float:
        """The power the controls ask for, clamped to the rating and to 0 at the SoC limits (charge positive)."""
        w_cha_max = min(self._scaled(STORAGE, "WChaMax", "WChaMax_SF"), self.max_charge_kw * 1000.0)
        mode = self._point(STORAGE, "StorCtl_Mod") & (_CHARGE_BIT | _DISCHARGE_BIT)
        low, high = self._reserve_pct()
        if mode == _CHARGE_BIT and self._soc_pct < high:
            rate_pct = self._scaled(STORAGE, "InWRte", "InOutWRte_SF", signed=True)
            return min(max(rate_pct, 0.0), 100.0) / 100.0 * w_cha_max
        if mode == _DISCHARGE_BIT and self._soc_pct > low:
            rate_pct = self._scaled(STORAGE, "OutWRte", "InOutWRte_SF", signed=True)
            return -min(min(max(rate_pct, 0.0), 100.0) / 100.0 * w_cha_max, self.max_discharge_kw * 1000.0)
        return 0.0

    def _refresh(self) -> None:
        """Write the live state (SoC, power, voltage, status) into the register map."""
        sf = self._sf
        self._power_w = self._commanded_power_w()
        low, high = self._reserve_pct()
        if self._power_w > 0:
            status = ChargeStatus.CHARGING
        elif self._power_w < 0:
            status = ChargeStatus.DISCHARGING
        elif self._soc_pct >= high:
            status = ChargeStatus.FULL
        elif self._soc_pct <= low:
            status = ChargeStatus.EMPTY
        else:
            status = ChargeStatus.HOLDING
        volts = 46.0 + 0.08 * self._soc_pct
        capacity_ah = self.capacity_kwh * 1000.0 / _NOMINAL_V
        battery_w = -self._power_w  # model 802: W > 0 discharges
        self._set(STORAGE, "ChaState", _register(self._soc_pct, sf["ChaState_SF"]))
        available_ah = max(0.0, self._soc_pct - low) / 100.0 * capacity_ah
        self._set(STORAGE, "StorAval", _register(available_ah, sf["StorAval_SF"]))
        self._set(STORAGE, "InBatV", _register(volts, sf["InBatV_SF"]))
        self._set(STORAGE, "ChaSt", status)
        self._set(BATTERY, "SoC", _register(self._soc_pct, sf["SoC_SF"]))
        self._set(BATTERY, "DoD", _register(100.0 - self._soc_pct, sf["DoD_SF"]))
        self._set(BATTERY, "SoH", _register(self.soh_pct, sf["SoH_SF"]))
        self._set(BATTERY, "NCyc", math.floor(self._discharged_kwh / self.capacity_kwh), size=2)
        self._set(BATTERY, "ChaSt", status)
        self._set(BATTERY, "Hb", int(self._clock() - self._started_at) & 0xFFFF)
        self._set(BATTERY, "V", _register(volts, sf["V_SF"]))
        self._set(BATTERY, "A", _register(battery_w / volts, sf["A_SF"], signed=True))
        self._set(BATTERY, "W", _register(battery_w, sf["W_SF"], signed=True))


async def serve(simulator: InverterSimulator, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Run the simulator until SIGINT/SIGTERM; SIGUSR1 toggles unresponsive (for tests in another process)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: simulator.resume() if simulator.paused else simulator.pause())
    bound = await simulator.start(host, port)
    announce(f"SunSpec inverter simulator listening on {host}:{bound}")
    try:
        await stop.wait()
    finally:
        await simulator.stop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            loop.remove_signal_handler(signum)


def run(simulator: InverterSimulator, host: str, port: int, announce: Callable[[str], None] = print) -> None:
    """Blocking entry point for the CLI: serve until interrupted, then shut down cleanly."""
    asyncio.run(serve(simulator, host, port, announce))
