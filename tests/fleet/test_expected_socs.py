"""The SoC a device is expected to have at a moment: its newest reading run on through its stored plan."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridpilot.auth.schemas import SYSTEM
from gridpilot.config import Settings
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as device_service
from gridpilot.protocol import Interval, Mode
from tests.market.fleet_setup import NOW, add_device, database


async def test_a_reading_is_run_on_through_the_stored_plan_but_not_through_weeks_of_it(settings: Settings) -> None:
    async with database(settings) as factory, factory() as session:
        await add_device(session, "bat-1", soc=50.0, soc_at=NOW)  # 10 kWh, 95 %: 2 kW for 2 h adds 38 points
        charge = Interval(NOW + timedelta(hours=1), NOW + timedelta(hours=3), Mode.CHARGE, 2.0)
        await schedule_service.submit(
            session=session,
            raws=[{"device_id": "bat-1", "intervals": [charge.to_json()]}],
            actor=SYSTEM,
            now=NOW,
            policy=schedule_service.schedule_policy(settings),
            batch=False,
        )
        device = await device_service.get(session=session, device_id="bat-1")

        async def expected(hours: float) -> float:
            at = {"bat-1": NOW + timedelta(hours=hours)}
            return (await schedule_service.expected_device_socs(session=session, devices=[device], at=at))["bat-1"]

        assert await expected(0.5) == 50.0
        assert await expected(2.0) == pytest.approx(69.0)
        assert await expected(6.0) == pytest.approx(88.0)
        beyond = schedule_service.PROJECTION_LOOKBACK + timedelta(hours=3)
        assert await expected(beyond / timedelta(hours=1)) == 50.0  # silent that long: its plan most likely not run
