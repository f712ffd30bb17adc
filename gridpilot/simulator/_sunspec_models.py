"""The SunSpec point layouts the simulator serves, copied point by point from the SunSpec model definitions.

Each table lists every point of a model in register order, exactly as the official JSON models
(pysunspec2 `sunspec2/models/json/model_{1,124,802}.json`) define them, so that any SunSpec client
can parse the map; tests/simulator checks these tables against those files.
"""

from __future__ import annotations

from typing import NamedTuple


class Point(NamedTuple):
    """One SunSpec point: its name, type, size in registers, scale-factor point, and whether clients may write it."""

    name: str
    type: str
    size: int
    sf: str | None = None
    writable: bool = False


COMMON = 1
STORAGE = 124
BATTERY = 802

MODEL_POINTS: dict[int, tuple[Point, ...]] = {
    COMMON: (
        Point("ID", "uint16", 1),
        Point("L", "uint16", 1),
        Point("Mn", "string", 16),
        Point("Md", "string", 16),
        Point("Opt", "string", 8),
        Point("Vr", "string", 8),
        Point("SN", "string", 16),
        Point("DA", "uint16", 1, writable=True),
        Point("Pad", "pad", 1),
    ),
    STORAGE: (
        Point("ID", "uint16", 1),
        Point("L", "uint16", 1),
        Point("WChaMax", "uint16", 1, "WChaMax_SF", writable=True),
        Point("WChaGra", "uint16", 1, "WChaDisChaGra_SF", writable=True),
        Point("WDisChaGra", "uint16", 1, "WChaDisChaGra_SF", writable=True),
        Point("StorCtl_Mod", "bitfield16", 1, writable=True),
        Point("VAChaMax", "uint16", 1, "VAChaMax_SF", writable=True),
        Point("MinRsvPct", "uint16", 1, "MinRsvPct_SF", writable=True),
        Point("ChaState", "uint16", 1, "ChaState_SF"),
        Point("StorAval", "uint16", 1, "StorAval_SF"),
        Point("InBatV", "uint16", 1, "InBatV_SF"),
        Point("ChaSt", "enum16", 1),
        Point("OutWRte", "int16", 1, "InOutWRte_SF", writable=True),
        Point("InWRte", "int16", 1, "InOutWRte_SF", writable=True),
        Point("InOutWRte_WinTms", "uint16", 1, writable=True),
        Point("InOutWRte_RvrtTms", "uint16", 1, writable=True),
        Point("InOutWRte_RmpTms", "uint16", 1, writable=True),
        Point("ChaGriSet", "enum16", 1, writable=True),
        Point("WChaMax_SF", "sunssf", 1),
        Point("WChaDisChaGra_SF", "sunssf", 1),
        Point("VAChaMax_SF", "sunssf", 1),
        Point("MinRsvPct_SF", "sunssf", 1),
        Point("ChaState_SF", "sunssf", 1),
        Point("StorAval_SF", "sunssf", 1),
        Point("InBatV_SF", "sunssf", 1),
        Point("InOutWRte_SF", "sunssf", 1),
    ),
    BATTERY: (
        Point("ID", "uint16", 1),
        Point("L", "uint16", 1),
        Point("AHRtg", "uint16", 1, "AHRtg_SF"),
        Point("WHRtg", "uint16", 1, "WHRtg_SF"),
        Point("WChaRteMax", "uint16", 1, "WChaDisChaMax_SF"),
        Point("WDisChaRteMax", "uint16", 1, "WChaDisChaMax_SF"),
        Point("DisChaRte", "uint16", 1, "DisChaRte_SF"),
        Point("SoCMax", "uint16", 1, "SoC_SF"),
        Point("SoCMin", "uint16", 1, "SoC_SF"),
        Point("SocRsvMax", "uint16", 1, "SoC_SF", writable=True),
        Point("SoCRsvMin", "uint16", 1, "SoC_SF", writable=True),
        Point("SoC", "uint16", 1, "SoC_SF"),
        Point("DoD", "uint16", 1, "DoD_SF"),
        Point("SoH", "uint16", 1, "SoH_SF"),
        Point("NCyc", "uint32", 2),
        Point("ChaSt", "enum16", 1),
        Point("LocRemCtl", "enum16", 1),
        Point("Hb", "uint16", 1),
        Point("CtrlHb", "uint16", 1, writable=True),
        Point("AlmRst", "uint16", 1, writable=True),
        Point("Typ", "enum16", 1),
        Point("State", "enum16", 1),
        Point("StateVnd", "enum16", 1),
        Point("WarrDt", "uint32", 2),
        Point("Evt1", "bitfield32", 2),
        Point("Evt2", "bitfield32", 2),
        Point("EvtVnd1", "bitfield32", 2),
        Point("EvtVnd2", "bitfield32", 2),
        Point("V", "uint16", 1, "V_SF"),
        Point("VMax", "uint16", 1, "V_SF"),
        Point("VMin", "uint16", 1, "V_SF"),
        Point("CellVMax", "uint16", 1, "CellV_SF"),
        Point("CellVMaxStr", "uint16", 1),
        Point("CellVMaxMod", "uint16", 1),
        Point("CellVMin", "uint16", 1, "CellV_SF"),
        Point("CellVMinStr", "uint16", 1),
        Point("CellVMinMod", "uint16", 1),
        Point("CellVAvg", "uint16", 1, "CellV_SF"),
        Point("A", "int16", 1, "A_SF"),
        Point("AChaMax", "uint16", 1, "AMax_SF"),
        Point("ADisChaMax", "uint16", 1, "AMax_SF"),
        Point("W", "int16", 1, "W_SF"),
        Point("ReqInvState", "enum16", 1),
        Point("ReqW", "int16", 1, "W_SF"),
        Point("SetOp", "enum16", 1, writable=True),
        Point("SetInvState", "enum16", 1, writable=True),
        Point("AHRtg_SF", "sunssf", 1),
        Point("WHRtg_SF", "sunssf", 1),
        Point("WChaDisChaMax_SF", "sunssf", 1),
        Point("DisChaRte_SF", "sunssf", 1),
        Point("SoC_SF", "sunssf", 1),
        Point("DoD_SF", "sunssf", 1),
        Point("SoH_SF", "sunssf", 1),
        Point("V_SF", "sunssf", 1),
        Point("CellV_SF", "sunssf", 1),
        Point("A_SF", "sunssf", 1),
        Point("AMax_SF", "sunssf", 1),
        Point("W_SF", "sunssf", 1),
    ),
}

# What a SunSpec client reads as "not implemented", by point type (a 32-bit type fills both registers).
NOT_IMPLEMENTED: dict[str, int] = {
    "uint16": 0xFFFF,
    "enum16": 0xFFFF,
    "bitfield16": 0xFFFF,
    "int16": 0x8000,
    "sunssf": 0x8000,
    "pad": 0x8000,
    "uint32": 0xFFFF,
    "bitfield32": 0xFFFF,
    "string": 0x0000,
}


def offsets(model_id: int) -> dict[str, int]:
    """Each point's offset from the model's ID register, summed from the sizes as the standard lays them out."""
    result: dict[str, int] = {}
    offset = 0
    for point in MODEL_POINTS[model_id]:
        result[point.name] = offset
        offset += point.size
    return result


def block_length(model_id: int) -> int:
    """The model's L: its size in registers, not counting the ID and L registers."""
    return sum(point.size for point in MODEL_POINTS[model_id]) - 2
