"""`gridpilot ingest`: pull schedules from external sources."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.config import Settings, load_settings
from gridpilot.db import create_engine, create_session_factory
from gridpilot.fleet import ingest
from gridpilot.observability import configure_logging

app = typer.Typer(help="Ingest schedules from external sources.", no_args_is_help=True)
USER_AGENT = "gridpilot-ingest"


def _interval(value: str | None) -> float | None:
    """--every as seconds (None: run once)."""
    if value is None:
        return None
    try:
        return ingest.parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--every") from None


def _headers(values: list[str]) -> list[tuple[str, str]]:
    """'Name: value' pairs; a malformed one is refused without echoing its value, which may be a secret."""
    headers = []
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip() or any(c.isspace() for c in name.strip()):
            raise typer.BadParameter("expected 'Name: value'", param_hint="--header")
        headers.append((name.strip(), content.strip()))
    return headers


def _check_url(url: str) -> None:
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL as exc:
        raise typer.BadParameter(str(exc), param_hint="--url") from None
    if scheme not in ("http", "https"):
        raise typer.BadParameter("an http:// or https:// URL is needed", param_hint="--url")


@asynccontextmanager
async def _connections(
    settings: Settings, *, timeout_s: float, headers: list[tuple[str, str]]
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], httpx.AsyncClient]]:
    """The database's session factory and an HTTP client for the source, both closed on the way out."""
    engine = create_engine(settings)
    try:
        async with httpx.AsyncClient(
            timeout=timeout_s, headers=[("User-Agent", USER_AGENT), *headers], follow_redirects=True
        ) as client:
            yield create_session_factory(engine), client
    finally:
        await engine.dispose()


def _print_report(console: Console, where: str, report: ingest.IngestReport) -> None:
    when = datetime.now().astimezone().strftime("%H:%M:%S")
    note = " (reasons in the log)" if report.rejected else ""
    console.print(
        f"{when} {escape(where)}: fetched {report.fetched}, [green]stored {report.accepted}[/green], "
        f"[red]rejected {report.rejected}[/red]{note}"
    )


async def _run(
    settings: Settings,
    *,
    url: str,
    interval_s: float | None,
    retry: ingest.Retry,
    timeout_s: float,
    headers: list[tuple[str, str]],
    console: Console,
) -> None:
    """Ingest once (a failed fetch raises), or every interval_s seconds until cancelled (a failed run is logged)."""
    async with _connections(settings, timeout_s=timeout_s, headers=headers) as (session_factory, client):
        once = functools.partial(
            ingest.ingest_once, session_factory=session_factory, client=client, url=url, settings=settings, retry=retry
        )
        show = functools.partial(_print_report, console, ingest.redact_url(url))
        if interval_s is None:
            show(await once())
        else:
            await ingest.run_every(interval_s=interval_s, run_once=once, on_report=show)


@app.command("schedules")
def schedules(
    url: Annotated[str, typer.Option(help="The source: an http(s) URL that answers a JSON array of schedules")],
    every: Annotated[str | None, typer.Option(help="Repeat at this interval (30s, 5m, 1h); default: once")] = None,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds to wait for the source, per request")] = 10.0,
    attempts: Annotated[int, typer.Option(min=1, max=100, help="Tries per fetch on network errors, 5xx and 429")] = 5,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value' sent to the source; repeatable")
    ] = None,
) -> None:
    """Fetch schedules from an external source, store the valid ones and log every rejected one with its reasons."""
    interval_s = _interval(every)
    headers = _headers(header or [])
    _check_url(url)
    settings = load_settings()
    configure_logging(level=settings.log_level, json_logs=settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines show query strings, tokens included
    console = Console()
    run = functools.partial(
        _run,
        settings,
        url=url,
        interval_s=interval_s,
        retry=ingest.Retry(attempts=attempts),
        timeout_s=timeout,
        headers=headers,
        console=console,
    )
    try:
        asyncio.run(run())
    except ingest.IngestSourceError as exc:
        console.print(f"[red]ingest failed:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("stopped")
