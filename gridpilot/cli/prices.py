"""`gridpilot prices`: import market prices from CSV files, ENTSO-E and JSON REST sources."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.cli._price_report import print_report
from gridpilot.cli._session import run_in_session
from gridpilot.config import load_settings
from gridpilot.db import utcnow
from gridpilot.market import service as price_service
from gridpilot.market.importing import ImportReport, import_batch
from gridpilot.market.imports import entsoe_source, json_source
from gridpilot.market.imports.batch import PriceBatch
from gridpilot.market.imports.csv_file import CsvLayout, CsvLayoutError, read_csv
from gridpilot.problem import DomainError

app = typer.Typer(help="Market prices: import, fetch and list markets.", no_args_is_help=True)

Market = Annotated[str, typer.Option("--market", help="Market code, e.g. NP, BE, DE-LU")]
Timezone = Annotated[
    str | None,
    typer.Option(help="Time zone of timestamps without an offset (e.g. Europe/Oslo); default: the market's"),
]
Currency = Annotated[str, typer.Option(help="Currency of the prices")]
Unit = Annotated[str | None, typer.Option(help="Price unit; default: CURRENCY/MWh")]
Resolution = Annotated[int, typer.Option(min=1, max=1440, help="Length of one delivery period, in minutes")]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone, or a usage error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {name!r}", param_hint="--timezone") from None


def market_zone(market: str, timezone: str | None) -> str:
    """The zone to read timestamps in: the one given, else the market's; a new market needs one."""
    if timezone is not None:
        zone(timezone)
        return timezone

    async def work(session: AsyncSession) -> str | None:
        found = await price_service.find_market(session=session, code=market)
        return found.timezone if found else None

    known = run_in_session(load_settings(), work)
    if known is None:
        raise typer.BadParameter(
            f"market {market!r} is new: say which time zone its delivery days are in", param_hint="--timezone"
        )
    return known


def store(market: str, timezone: str, batch: PriceBatch, *, source: str) -> ImportReport:
    """Import the batch in one transaction, print its report, and exit 1 when rows were rejected."""

    async def work(session: AsyncSession) -> ImportReport:
        return await import_batch(session=session, market=market, timezone=timezone, batch=batch, now=utcnow())

    try:
        report = run_in_session(load_settings(), work)
    except DomainError as exc:
        Console(stderr=True).print(f"[red]{escape(exc.title)}:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from None
    print_report(Console(), report, source=source, position=batch.position)
    if report.errors:
        raise typer.Exit(1)
    return report


@app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A CSV file")],
    market: Market,
    timestamp_column: Annotated[str | None, typer.Option(help="Column of delivery starts; default: the first")] = None,
    price_column: Annotated[str | None, typer.Option(help="Column of prices; default: the second")] = None,
    timezone: Timezone = None,
    currency: Currency = "EUR",
    unit: Unit = None,
    resolution: Resolution = 60,
    source: Annotated[str | None, typer.Option(help="Where the prices come from; default: csv:FILENAME")] = None,
) -> None:
    """Import prices from a CSV file; re-importing updates changed prices and reports every row not stored."""
    tz_name = market_zone(market, timezone)
    batch = PriceBatch(
        source=source or f"csv:{file.name}",
        resolution_minutes=resolution,
        currency=currency,
        unit=unit or f"{currency}/MWh",
    )
    try:
        read_csv(file, layout=CsvLayout(timestamp_column, price_column), timezone=zone(tz_name), batch=batch)
    except CsvLayoutError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    except (UnicodeDecodeError, ValueError) as exc:
        Console().print(f"[red]cannot read {escape(str(file))}:[/red] {escape(str(exc))}; nothing imported")
        raise typer.Exit(2) from None
    store(market, tz_name, batch, source=str(file))


@app.command("markets")
def markets() -> None:
    """List the markets with their time zones."""

    async def work(session: AsyncSession) -> list[tuple[str, str]]:
        return [(m.code, m.timezone) for m in await price_service.list_markets(session=session)]

    table = Table("market", "time zone")
    for row in run_in_session(load_settings(), work):
        table.add_row(*row)
    Console().print(table)


def _instant(value: str, tz_name: str, option: str) -> datetime:
    """A date (local midnight) or an ISO timestamp (local unless it has an offset), as an aware datetime."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date or an ISO timestamp", param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone(tz_name))


@app.command("fetch-entsoe")
def fetch_entsoe(
    market: Market,
    area: Annotated[str, typer.Option(help="ENTSO-E bidding zone, e.g. NO_1, DE_LU, BE")],
    start: Annotated[str, typer.Option(help="First delivery day or instant (the area's local time)")],
    end: Annotated[str, typer.Option(help="Day or instant to stop before (exclusive)")],
    timeout: Annotated[int, typer.Option(min=1, help="Seconds to wait for the platform")] = 60,
) -> None:
    """Fetch day-ahead prices from ENTSO-E (token: GRIDPILOT_ENTSOE_API_KEY or ENTSOE_API_KEY)."""
    settings = load_settings()
    secret = settings.entsoe_api_key
    token = secret.get_secret_value() if secret else os.environ.get("ENTSOE_API_KEY")
    if not token:
        raise typer.BadParameter("set GRIDPILOT_ENTSOE_API_KEY (or ENTSOE_API_KEY) to your platform token")
    try:
        tz_name = entsoe_source.area_timezone(area)
        batch = entsoe_source.fetch_day_ahead(
            api_key=token,
            area=area,
            start=_instant(start, tz_name, "--start"),
            end=_instant(end, tz_name, "--end"),
            timeout_s=timeout,
        )
    except entsoe_source.EntsoeSourceError as exc:
        Console(stderr=True).print(f"[red]fetch failed:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    store(market, tz_name, batch, source=f"ENTSO-E {area}")


@app.command("fetch-json")
def fetch_json(
    url: Annotated[str, typer.Option(help="An http(s) URL answering JSON")],
    market: Market,
    items_path: Annotated[str, typer.Option(help="Dotted path to the list of prices; '' = the whole document")] = "",
    timestamp_field: Annotated[str, typer.Option(help="Field of each item holding the delivery start")] = "timestamp",
    price_field: Annotated[str, typer.Option(help="Field of each item holding the price")] = "price",
    timezone: Timezone = None,
    currency: Currency = "EUR",
    unit: Unit = None,
    resolution: Resolution = 60,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds to wait for the source")] = 30,
) -> None:
    """Fetch prices from a JSON REST endpoint, mapping its fields to delivery starts and prices."""
    tz_name = market_zone(market, timezone)
    layout = json_source.JsonLayout(items_path, timestamp_field, price_field)
    batch = PriceBatch(
        source=f"json:{httpx.URL(url).host}",
        resolution_minutes=resolution,
        currency=currency,
        unit=unit or f"{currency}/MWh",
        position="item",
    )

    async def fetch() -> None:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            await json_source.fetch_json(client=client, url=url, layout=layout, timezone=zone(tz_name), batch=batch)

    try:
        asyncio.run(fetch())
    except json_source.JsonSourceError as exc:
        Console(stderr=True).print(f"[red]fetch failed:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    store(market, tz_name, batch, source=url)
