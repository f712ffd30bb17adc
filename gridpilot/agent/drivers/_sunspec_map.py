"""Where SunSpec puts the points the SunSpec driver needs, and how to find the models on a device.

Offsets count from a model's ID register and come from the SunSpec model definitions
(model_124.json, model_802.json, model_713.json as shipped by pysunspec2); tests check them there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from gridpilot.agent.drivers.base import DriverError

BASE_ADDRESSES = (40000, 0, 50000)
SUNS_MARKER = (0x5375, 0x6E53)
END_MODEL_ID = 0xFFFF
MAX_READ_REGISTERS = 125

COMMON = 1
STORAGE = 124
BATTERY = 802
DER_STORAGE_CAPACITY = 713

# Model 124, basic storage controls: 2 + 24 registers.
STORAGE_SIZE = 26
W_CHA_MAX = 2
STOR_CTL_MOD = 5
CHA_STATE = 8
IN_BAT_V = 10
CHA_ST_124 = 11
OUT_W_RTE = 12
IN_W_RTE = 13
IN_OUT_W_RTE_RVRT_TMS = 15
W_CHA_MAX_SF = 18
CHA_STATE_SF = 22
IN_BAT_V_SF = 24
IN_OUT_W_RTE_SF = 25

# Model 802, battery base: 2 + 62 registers. Its W has no sign in the definition; SunSpec's DER
# convention (model 701: "positive for DER generation") makes W > 0 a discharging battery.
BATTERY_SIZE = 64
SOC_802 = 11
SOH_802 = 13
CHA_ST_802 = 16
STATE_802 = 22
V_802 = 34
W_802 = 47
SOC_SF_802 = 56
SOH_SF_802 = 58
V_SF_802 = 59
W_SF_802 = 63
STATE_FAULT = 99

# Model 713, DER storage capacity: 2 + 7 registers.
DER_CAPACITY_SIZE = 9
SOC_713 = 4
SOH_713 = 5
PCT_SF_713 = 8

# ChaSt (models 124 and 802).
CHA_ST_DISCHARGING = 3
CHA_ST_CHARGING = 4

_NOT_IMPLEMENTED_UNSIGNED = 0xFFFF
_NOT_IMPLEMENTED_SIGNED = 0x8000


class ModbusRefused(DriverError):
    """The device answered with a Modbus exception response (it is there, but refuses this request)."""


@dataclass(frozen=True, slots=True)
class ModelBlock:
    """Where one SunSpec model sits: the address of its ID register and its total size in registers."""

    address: int
    size: int


ReadRegisters = Callable[[int, int, str], Awaitable[Sequence[int]]]


async def discover(read: ReadRegisters) -> dict[int, ModelBlock]:
    """Find the "SunS" marker at a standard base address and walk the model chain to the end marker.

    Only an exception response moves on to the next base address; a timeout or lost connection
    fails at once, so a dead device fails discovery within one timeout.
    """
    refusals: list[str] = []
    for base in BASE_ADDRESSES:
        try:
            marker = await read(base, 2, f"SunSpec marker at {base}")
        except ModbusRefused as exc:
            refusals.append(str(exc))
            continue
        if tuple(marker) == SUNS_MARKER:
            return await _walk(read, base + 2)
        refusals.append(f"no 'SunS' marker at {base}")
    raise DriverError("not a SunSpec device: " + "; ".join(refusals))


async def _walk(read: ReadRegisters, address: int) -> dict[int, ModelBlock]:
    models: dict[int, ModelBlock] = {}
    while address < 0xFFFF:
        model_id, length = await read(address, 2, f"SunSpec model header at {address}")
        if model_id == END_MODEL_ID:
            return models
        models.setdefault(model_id, ModelBlock(address, length + 2))
        address += length + 2
    raise DriverError("SunSpec model chain runs past the register space without an end marker")


def unsigned(raw: int) -> int | None:
    """A uint16/enum16 register, None when the device marks it not implemented."""
    return None if raw == _NOT_IMPLEMENTED_UNSIGNED else raw


def signed(raw: int) -> int | None:
    """An int16/sunssf register, None when the device marks it not implemented."""
    if raw == _NOT_IMPLEMENTED_SIGNED:
        return None
    return raw - 0x10000 if raw & 0x8000 else raw


def scaled(raw: int, sf_raw: int, *, is_signed: bool = False) -> float | None:
    """A point's value times 10 ** its scale factor; None when either is not implemented."""
    value = signed(raw) if is_signed else unsigned(raw)
    sf = signed(sf_raw)
    if value is None or sf is None:
        return None
    return value * 10.0**sf
