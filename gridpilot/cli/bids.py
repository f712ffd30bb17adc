"""`gridpilot bids`: build a market-day's bids from the fleet's plan, clear them on the simulated exchange."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.cli._session import run_in_session
from gridpilot.config import load_settings
from gridpilot.db import utcnow
from gridpilot.fleet.schedules import schedule_policy
from gridpilot.market import bidding, bidding_service
from gridpilot.market import service as price_service
from gridpilot.market.schemas import BidDayOut
from gridpilot.market.series import day_periods
from gridpilot.problem import DomainError

app = typer.Typer(help="Day-ahead bids: build, submit to the exchange, and show.", no_args_is_help=True)

Market = Annotated[str, typer.Option("--market", help="Market code, e.g. NP")]
Day = Annotated[datetime, typer.Option("--day", formats=["%Y-%m-%d"], help="Delivery day in the market's zone")]


@app.command("run")
def run(
    market: Market,
    day: Day,
    min_bid_mw: Annotated[float, typer.Option(min=0, help="Smallest bid the exchange takes (MW)")] = 0.1,
    increment_mw: Annotated[float, typer.Option(min=0.000001, help="Bid quantity step (MW)")] = 0.1,
    price_floor: Annotated[float, typer.Option(help="Lowest price the exchange allows")] = -500.0,
    price_cap: Annotated[float, typer.Option(help="Highest price the exchange allows")] = 4000.0,
    capacity_mw: Annotated[float | None, typer.Option(min=0.000001, help="Portfolio capacity (MW)")] = None,
    margin_pct: Annotated[float, typer.Option(min=0, help="Limit price distance from the forecast (%)")] = 5.0,
    attempts: Annotated[int, typer.Option(min=1, max=20, help="Tries on exchange failure")] = 4,
) -> None:
    """Build the day's bids (or resume a failed run), clear them on the simulated exchange, update schedules."""
    try:
        rules = bidding.MarketRules(
            min_bid_mw=min_bid_mw,
            increment_mw=increment_mw,
            price_floor=price_floor,
            price_cap=price_cap,
            portfolio_capacity_mw=capacity_mw if capacity_mw is not None else math.inf,
            limit_margin_pct=margin_pct,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = load_settings()
    delivery_day = day.date()

    async def work(session: AsyncSession) -> tuple[bidding_service.RunResult, BidDayOut]:
        now = utcnow()
        record = await price_service.get_market(session=session, code=market)
        hours = day_periods(delivery_day, record.timezone, 60)
        actual = await price_service.actual_prices(session=session, market=market, resolution_minutes=60, starts=hours)
        result = await bidding_service.run(
            session=session,
            market=market,
            day=delivery_day,
            rules=rules,
            adapter=bidding.SimulatedExchange(actual),
            exchange="simulated",
            sleep=asyncio.sleep,
            policy=schedule_policy(settings),
            now=now,
            attempts=attempts,
        )
        report = await bidding_service.day_report(session=session, market=market, day=delivery_day)
        return result, report

    console = Console()
    try:
        result, report = run_in_session(settings, work)
    except DomainError as exc:
        console.print(f"[red]{exc.title}:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    _print(console, report)
    if not result.sent:
        console.print(f"already submitted (key {report.idempotency_key}): nothing sent again")
    elif result.status == "failed":
        console.print(f"[red]submission failed:[/red] {result.error}; run again to resend under the same key")
        raise typer.Exit(1)
    else:
        console.print(
            f"schedules updated: {result.schedules_updated}, refused: {result.schedules_rejected}, "
            f"hours the devices fall short: {result.shortfall_hours}"
        )


@app.command("show")
def show(market: Market, day: Day) -> None:
    """The day's bids, outcomes and decisions."""

    async def work(session: AsyncSession) -> BidDayOut:
        await price_service.get_market(session=session, code=market)  # UnknownMarket, as the API answers
        return await bidding_service.day_report(session=session, market=market, day=day.date())

    console = Console()
    try:
        report = run_in_session(load_settings(), work)
    except DomainError as exc:
        console.print(f"[red]{exc.title}:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    _print(console, report)


def _print(console: Console, report: BidDayOut) -> None:
    """One row per hour: decision, bid and outcome."""
    bids = {bid.delivery_start: bid for bid in report.bids}
    table = Table(title=f"{report.market} {report.day.isoformat()}: {report.status} ({report.exchange})")
    for column in ("hour (UTC)", "decision", "MW", "forecast", "limit", "accepted", "clearing"):
        table.add_column(column, justify="left" if column == "decision" else "right")
    for decision in report.decisions:
        bid = bids.get(decision.delivery_start)
        table.add_row(
            decision.delivery_start.strftime("%m-%d %H:%M"),
            decision.action.value,
            f"{decision.position_mw:+.3f}",
            f"{decision.forecast_price:.2f}",
            f"{bid.limit_price:.2f}" if bid else "",
            "" if bid is None or bid.accepted_mw is None else f"{bid.accepted_mw:g}",
            "" if bid is None or bid.clearing_price is None else f"{bid.clearing_price:.2f}",
        )
    console.print(table)
    console.print(f"accepted: bought {report.accepted_buy_mwh:g} MWh, sold {report.accepted_sell_mwh:g} MWh")
