"""`gridpilot optimize fleet|drift`: a summary of what was planned, and refusals that say what to do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner, Result

from gridpilot.cli import full_app
from gridpilot.config import Settings
from gridpilot.market.series import local_day
from tests.market.fleet_setup import TZ, add_device, database, seed_market


def seed(settings: Settings) -> None:
    """NP (with a model) and BE (without) priced through today, DE without devices; three NP batteries."""
    now = datetime.now(UTC)
    today = local_day(now, TZ)

    async def run() -> None:
        async with database(settings) as factory, factory() as session:
            await seed_market(session, settings, first=today - timedelta(days=56), days=57, now=now)
            await seed_market(
                session, settings, first=today - timedelta(days=9), days=10, now=now, market="BE", model=False
            )
            await seed_market(session, settings, first=today - timedelta(days=9), days=10, now=now, market="DE")
            for n in range(3):
                await add_device(session, f"bat-{n}", soc=30.0 + 10 * n, soc_at=now)
            await add_device(session, "bat-be", soc=50.0, soc_at=now, tags=("market:BE",))
            await session.commit()

    asyncio.run(run())


def invoke(*args: str) -> Result:
    return CliRunner().invoke(full_app(), ["optimize", *args])


def counts(result: Result) -> list[str]:
    """The cells of the summary table's row of figures."""
    row = next(line for line in result.output.splitlines() if line.count("│") >= 7 and any(c.isdigit() for c in line))
    return [cell.strip() for cell in row.split("│")[1:-1]]


def test_the_fleet_is_planned_for_tomorrow_and_a_rerun_changes_nothing(cli_settings: Settings) -> None:
    seed(cli_settings)
    tomorrow = local_day(datetime.now(UTC), TZ) + timedelta(days=1)

    dry = invoke("fleet", "--market", "NP", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"NP {tomorrow} (dry run: nothing stored)" in dry.output

    first = invoke("fleet", "--market", "NP")
    assert first.exit_code == 0, first.output
    assert f"NP {tomorrow}" in first.output and "planned on the forecast of naive-weekly v1" in first.output
    assert counts(first)[:5] == ["3", "3", "0", "0", "0"]  # devices, stored, unchanged, idle, skipped

    again = invoke("fleet", "--market", "NP", "--day", tomorrow.isoformat())
    assert again.exit_code == 0, again.output
    assert counts(again)[:5] == ["3", "0", "3", "0", "0"]

    drift = invoke("drift", "--market", "NP")
    assert drift.exit_code == 0, drift.output


def test_refusals_name_the_missing_piece_and_how_to_add_it(cli_settings: Settings) -> None:
    seed(cli_settings)
    unknown = invoke("fleet", "--market", "XX")
    assert unknown.exit_code == 1 and "Unknown market" in unknown.output

    no_model = invoke("fleet", "--market", "BE")
    assert no_model.exit_code == 1 and "No current forecast model" in no_model.output
    assert "gridpilot models train --market BE" in no_model.output

    no_devices = invoke("fleet", "--market", "DE")
    assert no_devices.exit_code == 1 and "market:DE" in no_devices.output

    bad_day = invoke("fleet", "--market", "NP", "--day", "tomorrow")
    assert bad_day.exit_code == 2 and "YYYY-MM-DD" in bad_day.output


def test_a_day_the_fleet_would_refuse_is_refused_before_optimizing_and_today_points_at_drift(
    cli_settings: Settings,
) -> None:
    seed(cli_settings)
    today = local_day(datetime.now(UTC), TZ)
    for dry_run in ((), ("--dry-run",)):
        past = invoke("fleet", "--market", "NP", "--day", (today - timedelta(days=15)).isoformat(), *dry_run)
        assert past.exit_code == 1 and "Day cannot be planned" in past.output and "is over" in past.output
        assert "would store" not in past.output and "expected cost" not in past.output

        now = invoke("fleet", "--market", "NP", "--day", today.isoformat(), *dry_run)
        assert now.exit_code == 1 and "has already begun" in now.output
        assert "gridpilot optimize drift --market NP" in now.output

        far = invoke("fleet", "--market", "NP", "--day", (today + timedelta(days=9)).isoformat(), *dry_run)
        assert far.exit_code == 1 and "schedule horizon of 7 days" in far.output


def test_schedules_the_fleet_refuses_show_why_and_the_run_fails_when_none_is_stored(
    cli_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(cli_settings)
    monkeypatch.setenv("GRIDPILOT_SCHEDULE_MAX_INTERVALS", "1")  # an operator's cap that every plan exceeds

    for dry_run in (("--dry-run",), ()):
        result = invoke("fleet", "--market", "NP", *dry_run)
        assert result.exit_code == 1, result.output
        assert "the fleet refused the schedule: code 'too_many'" in result.output
        assert "nothing would be stored" in result.output if dry_run else "nothing stored" in result.output
        assert counts(result)[:5] == ["3", "0", "0", "0", "3"] and counts(result)[-1] == "0.00"


@pytest.mark.parametrize(("day", "detail"), [("9999-12-31", "after 2999-12-31"), ("0001-01-01", "before 2000-01-01")])
def test_optimize_refuses_a_day_out_of_range(cli_settings: Settings, day: str, detail: str) -> None:
    seed(cli_settings)
    result = invoke("fleet", "--market", "NP", "--day", day, "--dry-run")
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Day out of range" in result.output and detail in " ".join(result.output.split())
