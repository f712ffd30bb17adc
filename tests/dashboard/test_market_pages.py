"""The market page over HTTP on both databases: with stored prices, forecasts, plans and bids, and without."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from gridpilot.db import utcnow
from gridpilot.market.models import Market, Price
from tests.dashboard.conftest import SEED_MARKET, Dashboard, seed_market_data


def page_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="market-data">(.*?)</script>', html, re.S)
    assert match, "the page carries no chart data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


async def test_with_data_every_section_has_its_chart_and_the_figures_add_up(dashboard: Dashboard) -> None:
    day = (utcnow() + timedelta(days=1)).date()
    await seed_market_data(dashboard.api.app.state.session_factory, day=day)
    response = await dashboard.viewer.get("/market")
    assert response.status_code == 200, response.text
    html = response.text
    for chart in ("prices", "mae", "positions", "bids", "revenue", "value"):
        assert f'data-chart="{chart}"' in html, chart
    assert "No bids yet" not in html and "No forecasts" not in html
    assert f'value="{(day - timedelta(days=6)).isoformat()}"' in html  # default: the week up to the latest price
    data = page_data(html)
    assert len(data["prices"]["times"]) == 7 * 24
    assert data["prices"]["actual"][-24 + 17] == 96.0 and data["prices"]["forecast"][-24 + 17] == 100.0
    # forecast error of the planned day: |20-20.5| + |20-25| + |100-96| + |100-90| over 24 hours
    assert data["daily"][-1]["mae"] == round((0.5 + 5 + 4 + 10) / 24, 3)
    # bids (see tests/market/test_bids_api.py): buy 0.4 MW at 2h clears at 20.5, sell 1.3 MW at 17h at 96
    accepted = {(b["time"][11:13], b["side"]): (b["accepted_mw"], b["clearing_price"]) for b in data["bids"]}
    assert accepted[("02", "buy")] == (0.4, 20.5) and accepted[("17", "sell")] == (1.3, 96.0)
    assert accepted[("03", "buy")] == (0.0, 25.0) and accepted[("18", "sell")] == (0.0, 90.0)
    revenue = round(1.3 * 96.0 - 0.4 * 20.5, 2)
    assert data["daily"][-1]["revenue"] == revenue and data["daily"][-1]["cumulative"] == revenue
    assert all(d["revenue"] is None for d in data["daily"][:-1])
    # planned positions: the fleet's schedules summed per hour (bat-a re-planned by the bids, bat-b as planned)
    hours = {
        t[11:13]: (c, d)
        for t, c, d in zip(
            data["positions"]["times"][-24:],
            data["positions"]["charge_mwh"][-24:],
            data["positions"]["discharge_mwh"][-24:],
            strict=True,
        )
    }
    assert hours["02"] == (0.4, 0) and hours["03"] == (0, 0) and hours["17"] == (0, -1.3)
    assert hours["18"] == (0, 0)
    assert "2 devices" in html and "tagged <code>market:TB</code>" in html
    perfect = {d["day"]: d for d in data["value"]}
    assert len(perfect) == 7 and perfect[day.isoformat()]["bids"] == revenue
    assert all(d["perfect"] >= (d["forecast_plan"] or 0) - 1e-6 for d in perfect.values())
    assert f"{revenue:.2f}" in html


async def test_without_bids_or_forecasts_each_section_says_what_is_missing(dashboard: Dashboard) -> None:
    day = (utcnow() + timedelta(days=1)).date()
    await seed_market_data(dashboard.api.app.state.session_factory, day=day, bids=False, forecasts=False)
    html = (await dashboard.viewer.get(f"/market?market={SEED_MARKET}")).text
    assert "No bids yet — run <code>gridpilot bids run --market TB --day YYYY-MM-DD</code>" in html
    assert "No forecasts for these days" in html and "No forecast error yet" in html
    assert "No revenue yet" in html
    for chart in ("mae", "bids", "revenue"):
        assert f'data-chart="{chart}"' not in html
    assert 'data-chart="prices"' in html and 'data-chart="positions"' in html and 'data-chart="value"' in html


async def test_with_no_market_at_all_the_page_says_how_to_get_one(dashboard: Dashboard) -> None:
    response = await dashboard.viewer.get("/market")
    assert response.status_code == 200
    assert "No markets yet — import prices first" in response.text
    assert 'aria-current="page">Market' in response.text.replace("\n", "")


async def test_a_market_without_prices_in_the_range_says_so(dashboard: Dashboard) -> None:
    async with dashboard.api.app.state.session_factory() as session:
        session.add(Market(code="XX", timezone="Europe/Oslo"))
        await session.commit()
    html = (await dashboard.viewer.get("/market?market=XX")).text
    assert "No prices for XX in these days" in html and "No planned positions" in html
    assert "No devices registered." in html


async def test_bad_parameters_are_corrected_with_a_note_not_an_error(dashboard: Dashboard) -> None:
    day = (utcnow() + timedelta(days=1)).date()
    await seed_market_data(dashboard.api.app.state.session_factory, day=day, bids=False)
    cases = {
        "market=NOPE": "There is no market &#39;NOPE&#39;; showing TB.",
        "from=yesterday": "&#39;from&#39; must be a day like 2024-11-04, not &#39;yesterday&#39;",
        "to=0001-01-01": "&#39;to&#39; must be a day like 2024-11-04",
        "from=2020-01-01&to=2024-01-01": "At most 31 days are shown at once",
        f"from={day.isoformat()}&to={(day - timedelta(days=2)).isoformat()}": "the two days were swapped",
    }
    for query, note in cases.items():
        response = await dashboard.viewer.get(f"/market?{query}")
        assert response.status_code == 200, query
        assert note in response.text, query


async def test_a_chosen_range_shows_only_its_days(dashboard: Dashboard) -> None:
    day = (utcnow() + timedelta(days=1)).date()
    await seed_market_data(dashboard.api.app.state.session_factory, day=day)
    first = day - timedelta(days=3)
    html = (await dashboard.viewer.get(f"/market?market=TB&from={first}&to={first + timedelta(days=1)}")).text
    data = page_data(html)
    assert [d["day"] for d in data["daily"]] == [first.isoformat(), (first + timedelta(days=1)).isoformat()]
    assert len(data["prices"]["times"]) == 48 and data["bids"] == []
    assert "No bids yet" in html


async def test_the_market_page_needs_a_login(dashboard: Dashboard) -> None:
    response = await dashboard.api.client.get("/market")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_a_year_9999_price_an_older_version_stored_does_not_move_the_default_week(dashboard: Dashboard) -> None:
    day = (utcnow() + timedelta(days=1)).date()
    await seed_market_data(dashboard.api.app.state.session_factory, day=day)
    async with dashboard.api.app.state.session_factory() as session:
        session.add(
            Price(
                market=SEED_MARKET,
                delivery_start=datetime(9999, 12, 31, 23, tzinfo=UTC),
                resolution_minutes=60,
                price=1.0,
                currency="EUR",
                unit="EUR/MWh",
                source="old",
                known_at=utcnow(),
            )
        )
        await session.commit()
    response = await dashboard.viewer.get("/market")
    assert response.status_code == 200, response.text
    assert f'value="{(day - timedelta(days=6)).isoformat()}"' in response.text
