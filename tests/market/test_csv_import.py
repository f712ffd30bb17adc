"""`gridpilot prices import`: DST-safe, idempotent, and every row not stored is reported with its reason."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gridpilot.cli import full_app
from gridpilot.config import Settings
from gridpilot.db import create_engine, create_session_factory
from gridpilot.market.imports.batch import PriceBatch, screen
from gridpilot.market.imports.csv_file import CsvLayout, read_csv
from gridpilot.market.models import Price
from tests.market.factories import write_csv
from tests.market.test_timestamps import OSLO

EPF_NP = Path("/work/shared/data/epf/NP.csv")
runner = CliRunner()


def _import(*args: str) -> tuple[int, str]:
    result = runner.invoke(full_app(), ["prices", "import", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _stored(settings: Settings, market: str) -> list[tuple[datetime, float]]:
    async def run() -> list[tuple[datetime, float]]:
        engine = create_engine(settings)
        async with create_session_factory(engine)() as session:
            query = select(Price.delivery_start, Price.price).where(Price.market == market)
            query = query.order_by(Price.delivery_start)
            rows = [(r[0], r[1]) for r in await session.execute(query)]
        await engine.dispose()
        return rows

    return asyncio.run(run())


def _hours(day: str, count: int, *, repeat: int | None = None, skip: int | None = None) -> list[str]:
    """Local wall-clock hours of a day as the file writes them."""
    hours = [h for h in range(24) if h != skip]
    if repeat is not None:
        hours.insert(hours.index(repeat), repeat)
    assert len(hours) == count
    return [f"{day} {h:02d}:00:00" for h in hours]


def test_an_epf_slice_imports_and_reports_its_normalised_dst_day(cli_settings: Settings, tmp_path: Path) -> None:
    lines = EPF_NP.read_text().splitlines()
    spring = next(i for i, line in enumerate(lines) if line.startswith("2017-03-26 02:00"))
    sliced = tmp_path / "np.csv"
    sliced.write_text("\n".join([lines[0], *lines[spring - 50 : spring + 50]]) + "\n")
    code, output = _import(str(sliced), "--market", "NP", "--timezone", "Europe/Oslo")
    assert code == 1, output  # the one row that names a skipped hour is refused, the others are stored
    assert "stored: 99 new, 0 changed, 0 unchanged" in output
    assert "line 52: 2017-03-26 02:00:00 does not exist in Europe/Oslo" in output
    stored = _stored(cli_settings, "NP")
    assert len(stored) == 99
    assert stored[0][0] == datetime(2017, 3, 23, 23, 0, tzinfo=UTC)  # 24 March 00:00 CET


def test_23_and_25_hour_days_import_to_consecutive_utc_hours(cli_settings: Settings, tmp_path: Path) -> None:
    rows = [*_hours("2024-03-31", 23, skip=2), *_hours("2024-10-27", 25, repeat=2)]
    path = write_csv(tmp_path / "dst.csv", [(ts, str(10 + i)) for i, ts in enumerate(rows)], header="time,price")
    code, output = _import(str(path), "--market", "NO1", "--timezone", "Europe/Oslo")
    assert code == 0, output
    stored = _stored(cli_settings, "NO1")
    spring, autumn = stored[:23], stored[23:]
    assert spring[0][0] == datetime(2024, 3, 30, 23, 0, tzinfo=UTC)
    assert autumn[0][0] == datetime(2024, 10, 26, 22, 0, tzinfo=UTC)
    for day in (spring, autumn):
        assert all(b[0] - a[0] == timedelta(hours=1) for a, b in itertools.pairwise(day))
    assert len(autumn) == 25
    assert [p for _, p in stored] == [10.0 + i for i in range(48)]  # the repeated 02:00 kept in file order


def test_bad_rows_are_refused_by_line_and_good_rows_kept(cli_settings: Settings, tmp_path: Path) -> None:
    rows = [
        ("2024-05-01 00:00:00", "40.5"),
        ("2024-05-01 01:00:00", "n/a"),
        ("not a time", "41"),
        ("2024-05-01 03:00:00+05:00", "42"),
        ("2024-05-01 04:00:00", ""),
        ("2024-05-01 05:00:00", "43"),
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    code, output = _import(str(path), "--market", "NP", "--timezone", "Europe/Oslo")
    assert code == 1
    assert "rejected 4 row(s)" in output
    assert "line 3: price 'n/a' is not a number" in output
    assert "line 4: 'not a time' is not an ISO 8601 timestamp" in output
    assert "line 5: offset +05:00" in output and "wrong time zone" in output
    assert "line 6: empty price" in output
    assert [p for _, p in _stored(cli_settings, "NP")] == [40.5, 43.0]
    assert "gaps: 4 period(s) missing in 1 gap(s)" in output


def test_duplicates_and_gaps_are_reported_not_filled(tmp_path: Path) -> None:
    rows = [
        ("2024-05-01 00:00:00", "40"),
        ("2024-05-01 00:00:00", "40"),
        ("2024-05-01 01:00:00", "41"),
        ("2024-05-01 01:00:00", "45"),
        ("2024-05-01 05:00:00", "42"),
    ]
    batch = PriceBatch(source="t", resolution_minutes=60, currency="EUR", unit="EUR/MWh")
    read_csv(write_csv(tmp_path / "d.csv", rows), layout=CsvLayout(), timezone=OSLO, batch=batch)
    screened = screen(batch.points, resolution_minutes=60)
    assert [(d.lines, d.conflicting) for d in screened.duplicates] == [((2, 3), False), ((4, 5), True)]
    assert [p.price for p in screened.points] == [40.0, 42.0]
    assert {e.line for e in screened.errors} == {4, 5}
    assert [(g.start.hour, g.periods) for g in screened.gaps] == [(0, 3)]  # 02:00-04:00 CEST = 00:00-02:00 UTC


def test_reimport_is_idempotent_and_counts_changes(cli_settings: Settings, tmp_path: Path) -> None:
    rows = [(f"2024-05-01 {h:02d}:00:00", str(30 + h)) for h in range(24)]
    path = write_csv(tmp_path / "day.csv", rows)
    assert _import(str(path), "--market", "NP", "--timezone", "Europe/Oslo")[0] == 0
    code, output = _import(str(path), "--market", "NP")  # the market's zone is remembered
    assert code == 0
    assert "stored: 0 new, 0 changed, 24 unchanged" in output
    rows[5] = (rows[5][0], "99.9")
    code, output = _import(str(write_csv(path, rows)), "--market", "NP")
    assert "stored: 0 new, 1 changed, 23 unchanged" in output
    assert len(_stored(cli_settings, "NP")) == 24
    assert _stored(cli_settings, "NP")[5][1] == 99.9


def test_a_new_market_needs_a_time_zone_and_a_missing_column_is_named(cli_settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [("2024-05-01 00:00:00", "1")])
    code, output = _import(str(path), "--market", "XX")
    assert code == 2 and "--timezone" in output
    code, output = _import(str(path), "--market", "XX", "--timezone", "UTC", "--price-column", "Price")
    assert code == 2 and "no column 'Price'" in output
    assert _stored(cli_settings, "XX") == []


@pytest.mark.parametrize("name", ["NP.csv", "PJM.csv", "BE.csv"])
def test_every_epf_file_reads_with_only_its_dst_days_reported(name: str) -> None:
    zone = {"NP.csv": "Europe/Oslo", "PJM.csv": "America/New_York", "BE.csv": "Europe/Brussels"}[name]
    batch = PriceBatch(source="t", resolution_minutes=60, currency="EUR", unit="EUR/MWh")
    read_csv(Path("/work/shared/data/epf") / name, layout=CsvLayout(), timezone=ZoneInfo(zone), batch=batch)
    screened = screen(batch.points, resolution_minutes=60)
    assert batch.rows_read == 17472
    assert len(batch.errors) == 2 and all("does not exist" in e.reason for e in batch.errors)  # two spring days
    assert screened.missing_periods == 2 and not screened.duplicates  # two autumn days
