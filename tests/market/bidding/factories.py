"""Builders of hours and device plans for the bidding tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridpilot.market.bidding import DevicePlan

DAY_START = datetime(2026, 11, 24, tzinfo=UTC)


def hours(count: int = 24) -> list[datetime]:
    """Consecutive delivery hours from DAY_START."""
    return [DAY_START + timedelta(hours=h) for h in range(count)]


def plan(device_id: str, planned: list[float], **fields: float) -> DevicePlan:
    """A 1 MW / 2 MWh battery at 50 % with the given hourly positions, lossless unless told."""
    values: dict[str, float] = {
        "capacity_mwh": 2.0,
        "max_charge_mw": 1.0,
        "max_discharge_mw": 1.0,
        "initial_soc_pct": 50.0,
        "min_soc_pct": 10.0,
        "max_soc_pct": 90.0,
        **fields,
    }
    return DevicePlan(device_id=device_id, planned_mw=tuple(planned), **values)  # type: ignore[arg-type]
