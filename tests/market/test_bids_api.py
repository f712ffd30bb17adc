"""Bidding on the real databases: build from the fleet's plan, clear, store, feed back, and read it over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from gridpilot.cli import full_app
from gridpilot.config import Settings
from gridpilot.db import utcnow
from gridpilot.fleet.schedules import schedule_policy
from gridpilot.market import bidding, bidding_service
from gridpilot.market.exceptions import BiddingInputsMissing
from tests.conftest import Api
from tests.market.factories import log_forecasts

MARKET = "TB"
FORECAST = {2: 20.0, 3: 20.0, 17: 100.0, 18: 100.0}
ACTUAL = {2: 20.5, 3: 25.0, 17: 96.0, 18: 90.0}


def tomorrow() -> date:
    return (utcnow() + timedelta(days=1)).date()


def hour(day: date, h: int) -> datetime:
    return datetime(day.year, day.month, day.day, h, tzinfo=UTC)


def rfc(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def interval(day: date, h: int, mode: int, rate_kw: float) -> dict[str, object]:
    return {"start": rfc(hour(day, h)), "end": rfc(hour(day, h + 1)), "mode": mode, "rate_kw": rate_kw}


async def prepare(api: Api, day: date) -> None:
    """Two 1 MW / 2 MWh batteries with a plan for the day, the day's forecast and its actual prices."""
    for device_id in ("bat-a", "bat-b"):
        await api.register_device(
            device_id,
            capacity_kwh=2000.0,
            max_charge_kw=1000.0,
            max_discharge_kw=1000.0,
            min_soc_pct=10.0,
            max_soc_pct=90.0,
            charge_efficiency=1.0,
            discharge_efficiency=1.0,
        )
    body = [
        {
            "device_id": "bat-a",
            "intervals": [
                interval(day, 2, 1, 400.0),
                interval(day, 3, 1, 400.0),
                interval(day, 17, 2, 800.0),
                interval(day, 18, 2, 800.0),
            ],
        },
        {"device_id": "bat-b", "intervals": [interval(day, 17, 2, 500.0)]},
    ]
    response = await api.client.post("/api/v1/schedules", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    prices = [{"delivery_start": rfc(hour(day, h)), "price": ACTUAL.get(h, 50.0)} for h in range(24)]
    response = await api.client.post(
        "/api/v1/market/prices", json={"market": MARKET, "timezone": "UTC", "prices": prices}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    async with api.app.state.session_factory() as session:
        issued = utcnow() - timedelta(minutes=1)
        forecasts = [(hour(day, h), FORECAST.get(h, 50.0), issued) for h in range(24)]
        await log_forecasts(session, MARKET, forecasts, promoted_at=utcnow())
        await session.commit()


async def run(api: Api, day: date, adapter: bidding.MarketAdapter | None = None) -> bidding_service.RunResult:
    async with api.app.state.session_factory() as session:
        starts = [hour(day, h) for h in range(24)]
        exchange = adapter or bidding.SimulatedExchange({s: ACTUAL.get(s.hour, 50.0) for s in starts})

        async def no_wait(seconds: float) -> None:
            return None

        result = await bidding_service.run(
            session=session,
            market=MARKET,
            day=day,
            rules=bidding.MarketRules(),
            adapter=exchange,
            exchange="simulated",
            sleep=no_wait,
            policy=schedule_policy(api.app.state.settings),
            now=utcnow(),
        )
        await session.commit()
        return result


async def test_bids_clear_on_the_actual_price_and_flow_back_into_schedules(api: Api) -> None:
    day = tomorrow()
    await prepare(api, day)
    result = await run(api, day)
    assert (result.status, result.sent) == ("submitted", True)
    assert (result.schedules_updated, result.schedules_rejected) == (1, 0)
    response = await api.client.get(f"/api/v1/market/bids?market={MARKET}&day={day}", headers=api.viewer)
    assert response.status_code == 200, response.text
    report = response.json()
    bids = {b["delivery_start"][11:13]: b for b in report["bids"]}
    assert set(bids) == {"02", "03", "17", "18"}
    assert (bids["02"]["side"], bids["02"]["quantity_mw"], bids["02"]["limit_price"]) == ("buy", 0.4, 21.0)
    assert (bids["02"]["accepted_mw"], bids["03"]["accepted_mw"]) == (0.4, 0.0)  # 21 ≥ 20.5; 21 < 25
    assert (bids["17"]["side"], bids["17"]["quantity_mw"], bids["17"]["limit_price"]) == ("sell", 1.3, 95.0)
    assert (bids["17"]["accepted_mw"], bids["18"]["accepted_mw"]) == (1.3, 0.0)  # 95 ≤ 96; 95 > 90
    assert report["accepted_buy_mwh"] == 0.4 and report["accepted_sell_mwh"] == 1.3
    actions = [d["action"] for d in report["decisions"]]
    assert len(actions) == 24 and actions.count("store") == 20 and actions[2] == "consume" and actions[17] == "sell"
    assert "hold value 20.00" in report["decisions"][17]["reason"]
    page = (await api.client.get("/api/v1/devices/bat-a/schedules", headers=api.viewer)).json()
    newest = page["items"][0]
    assert (newest["version"], newest["created_by"], newest["source"]) == (2, "system:market", "market")
    stored = (await api.client.get(f"/api/v1/schedules/{newest['id']}", headers=api.viewer)).json()
    intervals = [(i["start"][11:13], i["mode"], i["rate_kw"]) for i in stored["intervals"]]
    assert intervals == [("02", 1, 400.0), ("17", 2, 800.0)]
    b_versions = (await api.client.get("/api/v1/devices/bat-b/schedules", headers=api.viewer)).json()["items"]
    assert [v["version"] for v in b_versions] == [1]  # fully accepted: left alone


class BrokenExchange:
    """An exchange that never answers."""

    async def submit(self, submission: bidding.Submission) -> bidding.SubmissionResult:
        raise bidding.AdapterUnavailable("timeout")


async def test_a_failed_submission_is_resent_under_its_key_and_never_twice(api: Api) -> None:
    day = tomorrow()
    await prepare(api, day)
    failed = await run(api, day, BrokenExchange())
    assert failed.status == "failed" and "failed 4 time(s)" in (failed.error or "")
    first = (await api.client.get(f"/api/v1/market/bids?market={MARKET}&day={day}", headers=api.viewer)).json()
    assert first["status"] == "failed" and first["attempts"] == 4 and first["bids"][0]["accepted_mw"] is None
    exchange = bidding.SimulatedExchange({hour(day, h): ACTUAL.get(h, 50.0) for h in range(24)})
    resumed = await run(api, day, exchange)
    again = await run(api, day, exchange)
    assert (resumed.status, again.sent) == ("submitted", False)
    assert list(exchange.booked) == [first["idempotency_key"]]
    final = (await api.client.get(f"/api/v1/market/bids?market={MARKET}&day={day}", headers=api.viewer)).json()
    assert final["idempotency_key"] == first["idempotency_key"] and final["attempts"] == 5


async def test_demand_response_takes_precedence_in_the_stored_decisions(api: Api) -> None:
    day = tomorrow()
    await prepare(api, day)
    event = {
        "market": MARKET,
        "kind": "increase_export",
        "start": rfc(hour(day, 10)),
        "end": rfc(hour(day, 11)),
        "requested_mw": 0.5,
    }
    response = await api.client.post("/api/v1/market/demand-response", json=event, headers=api.admin)
    assert response.status_code == 201, response.text
    assert response.json()["created_by"] == "operator:root"
    await run(api, day)
    report = (await api.client.get(f"/api/v1/market/bids?market={MARKET}&day={day}", headers=api.viewer)).json()
    ten = report["decisions"][10]
    assert (ten["action"], ten["demand_response_event_id"]) == ("sell", response.json()["id"])
    assert ten["reason"].startswith(f"demand-response event {response.json()['id']} asks for more export")
    sell = next(b for b in report["bids"] if b["delivery_start"][11:13] == "10")
    assert (sell["quantity_mw"], sell["limit_price"], sell["accepted_mw"]) == (0.5, -500.0, 0.5)


@pytest.mark.parametrize(
    ("change", "pointer"),
    [({"end": "START"}, "/end"), ({"start": "2026-11-24T10:30:00Z"}, "/start")],
)
async def test_a_bad_event_names_the_field_and_stores_nothing(api: Api, change: dict[str, str], pointer: str) -> None:
    await prepare(api, tomorrow())
    event = {
        "market": MARKET,
        "kind": "reduce_consumption",
        "start": "2026-11-24T10:00:00Z",
        "end": "2026-11-24T12:00:00Z",
        **change,
    }
    event["end"] = event["start"] if event["end"] == "START" else event["end"]
    response = await api.client.post("/api/v1/market/demand-response", json=event, headers=api.admin)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


async def test_refusals_are_specific(api: Api) -> None:
    event = {
        "market": "NOPE",
        "kind": "increase_export",
        "start": "2026-11-24T10:00:00Z",
        "end": "2026-11-24T11:00:00Z",
    }
    assert (await api.client.post("/api/v1/market/demand-response", json=event, headers=api.viewer)).status_code == 403
    assert (await api.client.post("/api/v1/market/demand-response", json=event, headers=api.admin)).status_code == 404
    bad = {**event, "kind": "dance", "requested_mw": -1}
    response = await api.client.post("/api/v1/market/demand-response", json=bad, headers=api.admin)
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {"/kind", "/requested_mw"}
    await prepare(api, tomorrow())
    missing = await api.client.get(f"/api/v1/market/bids?market={MARKET}&day=2020-01-01", headers=api.viewer)
    assert missing.status_code == 404 and "no bids of TB" in missing.json()["detail"]
    bad_day = await api.client.get(f"/api/v1/market/bids?market={MARKET}&day=24.11.2026", headers=api.viewer)
    assert bad_day.status_code == 422 and bad_day.json()["errors"][0]["parameter"] == "query:day"


async def test_without_a_forecast_the_run_is_refused_listing_the_hours(api: Api) -> None:
    day = tomorrow()
    await prepare(api, day)
    with pytest.raises(BiddingInputsMissing, match="no forecast of TB for 24 of 24"):
        await run(api, day + timedelta(days=1))


async def test_the_cli_runs_the_day_once_and_shows_it(cli_settings: Settings, api: Api) -> None:
    day = tomorrow()
    await prepare(api, day)
    runner = CliRunner()
    first = await asyncio.to_thread(runner.invoke, full_app(), ["bids", "run", "--market", MARKET, "--day", str(day)])
    assert first.exit_code == 0, first.output
    assert "schedules updated: 1" in first.output and "bought 0.4 MWh, sold 1.3 MWh" in first.output
    second = await asyncio.to_thread(runner.invoke, full_app(), ["bids", "run", "--market", MARKET, "--day", str(day)])
    assert second.exit_code == 0 and "nothing sent again" in second.output
    bad = await asyncio.to_thread(
        runner.invoke,
        full_app(),
        ["bids", "run", "--market", MARKET, "--day", str(day), "--price-floor", "10", "--price-cap", "5"],
    )
    assert bad.exit_code == 2 and "price_floor" in bad.output


async def test_the_cli_says_a_market_is_unknown_and_refuses_days_out_of_range(cli_settings: Settings, api: Api) -> None:
    runner = CliRunner()
    unknown = await asyncio.to_thread(
        runner.invoke, full_app(), ["bids", "show", "--market", "XX", "--day", "2026-12-06"]
    )
    assert unknown.exit_code == 1 and "Unknown market" in unknown.output and "Bids not found" not in unknown.output
    await prepare(api, tomorrow())
    for day, detail in (("9999-12-31", "after 2999-12-31"), ("0001-01-01", "before 2000-01-01")):
        refused = await asyncio.to_thread(runner.invoke, full_app(), ["bids", "run", "--market", MARKET, "--day", day])
        assert refused.exit_code == 1, refused.output
        assert "Day out of range" in refused.output and detail in " ".join(refused.output.split())
