"""The market page: prices against forecasts, positions and bids, revenue, value captured."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from gridpilot.dashboard import market_views
from gridpilot.dashboard.session import Viewer
from gridpilot.dashboard.templating import templates
from gridpilot.dependencies import NowDep, SessionDep
from gridpilot.market import service as price_service

router = APIRouter()
DEFAULT_DAYS = 7


@router.get("/market", response_class=HTMLResponse)
async def market_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    now: NowDep,
    market: str | None = None,
    first: Annotated[str | None, Query(alias="from")] = None,
    last: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """One market over a range of its days (default: the week up to its latest stored price)."""
    markets = await price_service.list_markets(session=session)
    notes: list[str] = []
    chosen = next((m for m in markets if m.code == market), None)
    if market and chosen is None:
        notes.append(f"There is no market {market[:32]!r}; showing {markets[0].code}." if markets else "")
    chosen = chosen or (markets[0] if markets else None)
    context: dict[str, object] = {"viewer": viewer, "markets": markets, "market": chosen, "view": None}
    if chosen is not None:
        latest = await market_views.latest_price_day(
            session=session, market=chosen.code, timezone=chosen.timezone, now=now
        )
        today = now.astimezone(ZoneInfo(chosen.timezone)).date()
        first_day, last_day = day_range(first, last, default_end=latest or today, notes=notes)
        context["view"] = await market_views.market_view(
            session=session,
            market=chosen.code,
            timezone=chosen.timezone,
            first_day=first_day,
            last_day=last_day,
            now=now,
        )
        context["latest_day"] = latest
    context["notes"] = [n for n in notes if n]
    return templates.TemplateResponse(request, "market.html", context)


def day_range(first: str | None, last: str | None, *, default_end: date, notes: list[str]) -> tuple[date, date]:
    """The days asked for, or the default week; a bad or too long range is corrected and the note says how."""
    end = _day(last, "to", notes) or default_end
    start = _day(first, "from", notes) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        notes.append("The range started after it ended; the two days were swapped.")
        start, end = end, start
    if (end - start).days + 1 > market_views.MAX_DAYS:
        start = end - timedelta(days=market_views.MAX_DAYS - 1)
        notes.append(
            f"At most {market_views.MAX_DAYS} days are shown at once; showing the last {market_views.MAX_DAYS}."
        )
    return start, end


def _day(value: str | None, name: str, notes: list[str]) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        day = None
    if day is None or not 1970 <= day.year <= 2200:
        notes.append(f"{name!r} must be a day like 2024-11-04, not {value[:40]!r}; the default was used.")
        return None
    return day
