"""Prices from a CSV file: one timestamp column and one price column, every bad row rejected with its line."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gridpilot.market.imports.batch import PriceBatch, PricePoint, RowError
from gridpilot.market.imports.timestamps import LocalTimes, TimestampError


class CsvLayoutError(ValueError):
    """The file as a whole cannot be read (no header, a named column missing); no row was imported."""


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """Which columns hold what; None picks the first column for timestamps and the second for prices."""

    timestamp_column: str | None = None
    price_column: str | None = None


def parse_price(text: str) -> float:
    """A finite price; ValueError says why not."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty price")
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError(f"price {stripped!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"price {stripped!r} is not finite")
    return value


def _column(header: list[str], name: str | None, default: int, option: str) -> int:
    if name is None:
        if len(header) <= default:
            raise CsvLayoutError(f"the header has {len(header)} column(s); name the {option} column")
        return default
    if name not in header:
        raise CsvLayoutError(f"no column {name!r} in the header (columns: {', '.join(map(repr, header))})")
    return header.index(name)


def read_csv(path: Path, *, layout: CsvLayout, timezone: ZoneInfo, batch: PriceBatch) -> PriceBatch:
    """Add the file's rows to `batch`: points for the good ones, a RowError with the line for each bad one."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise CsvLayoutError(f"{path} is empty")
        time_index = _column(header, layout.timestamp_column, 0, "--timestamp-column")
        price_index = _column(header, layout.price_column, 1, "--price-column")
        local_times = LocalTimes(timezone)
        try:
            _read_rows(reader, len(header), time_index, price_index, local_times, batch)
        except csv.Error as exc:
            raise CsvLayoutError(f"line {reader.line_num}: {exc}; rows after it were not read") from None
    return batch


def _read_rows(
    reader: Any, width: int, time_index: int, price_index: int, local_times: LocalTimes, batch: PriceBatch
) -> None:
    """Each row to a point, or to a RowError naming its line."""
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        batch.rows_read += 1
        line = reader.line_num
        if len(row) != width:
            batch.errors.append(RowError(line, f"{len(row)} fields where the header has {width}"))
            continue
        try:
            start = local_times.to_utc(row[time_index])
            price = parse_price(row[price_index])
        except (TimestampError, ValueError) as exc:
            batch.errors.append(RowError(line, str(exc)))
            continue
        batch.points.append(PricePoint(start, price, line))
