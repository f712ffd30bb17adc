"""Prices API: bulk upserts refused whole with a pointer per bad row, idempotent re-sends, range reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gridpilot.market import service as price_service
from gridpilot.market.exceptions import PricesRejected
from gridpilot.market.importing import import_batch
from gridpilot.market.imports.batch import PriceBatch, PricePoint
from tests.conftest import Api

DAY = [{"delivery_start": f"2024-05-01T{h:02d}:00:00+02:00", "price": 30 + h} for h in range(24)]


async def test_upsert_then_resend_changes_nothing_and_reads_back_in_utc(api: Api) -> None:
    body = {"market": "NP", "timezone": "Europe/Oslo", "source": "test", "prices": DAY}
    first = await api.client.post("/api/v1/market/prices", json=body, headers=api.admin)
    assert first.status_code == 200, first.text
    assert first.json() == {"new": 24, "changed": 0, "unchanged": 0}
    body["prices"] = [*DAY[:23], {**DAY[23], "price": 99}]
    again = await api.client.post("/api/v1/market/prices", json=body, headers=api.admin)
    assert again.json() == {"new": 0, "changed": 1, "unchanged": 23}
    page = await api.client.get(
        "/api/v1/market/prices",
        params={"market": "NP", "start": "2024-04-30T22:00:00Z", "end": "2024-04-30T23:00:00Z"},
        headers=api.viewer,
    )
    assert page.status_code == 200
    [item] = page.json()["items"]
    assert item["delivery_start"] == "2024-04-30T22:00:00Z"
    assert item["price"] == 30 and item["unit"] == "EUR/MWh" and item["source"] == "test"


async def test_a_bad_batch_lists_every_violation_and_stores_nothing(api: Api) -> None:
    prices = [
        DAY[0],
        {"delivery_start": DAY[0]["delivery_start"], "price": 1},
        {"delivery_start": "2024-05-01T01:00:00", "price": 2},
        {"delivery_start": "2024-05-01T02:00:00Z", "price": "cheap"},
    ]
    response = await api.client.post(
        "/api/v1/market/prices", json={"market": "NP", "prices": prices}, headers=api.admin
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/prices/2/delivery_start", "/prices/3/price"} <= pointers
    fixed = [DAY[0], {"delivery_start": DAY[0]["delivery_start"], "price": 1}]
    response = await api.client.post(
        "/api/v1/market/prices",
        json={
            "market": "NP",
            "resolution_minutes": 15,
            "prices": [*fixed, {**DAY[1], "delivery_start": "2024-05-01T01:07:00+02:00"}],
        },
        headers=api.admin,
    )
    assert response.status_code == 422
    errors = {e["pointer"]: e["code"] for e in response.json()["errors"]}
    assert errors == {
        "/prices/1/delivery_start": "duplicate",
        "/prices/2/delivery_start": "off_grid",
        "/timezone": "required",
    }
    unknown = await api.client.get(
        "/api/v1/market/prices",
        params={"market": "NP", "start": "2024-01-01T00:00Z", "end": "2025-01-01T00:00Z"},
        headers=api.viewer,
    )
    assert unknown.status_code == 404


async def test_viewers_read_but_do_not_write(api: Api) -> None:
    body = {"market": "NP", "timezone": "Europe/Oslo", "prices": DAY}
    assert (await api.client.post("/api/v1/market/prices", json=body, headers=api.viewer)).status_code == 403
    assert (await api.client.post("/api/v1/market/prices", json=body)).status_code == 401


async def _post(api: Api, **body: object) -> httpx.Response:
    return await api.client.post("/api/v1/market/prices", json={"market": "NP", **body}, headers=api.admin)


async def _stored(api: Api, start: str = "0001-01-01T00:00:00Z", end: str = "9999-12-31T00:00:00Z") -> list[dict]:
    page = await api.client.get(
        "/api/v1/market/prices", params={"market": "NP", "start": start, "end": end}, headers=api.viewer
    )
    assert page.status_code == 200, page.text
    items: list[dict] = page.json()["items"]
    return items


@pytest.mark.parametrize(
    ("start", "detail"),
    [
        ("9999-12-31T23:00:00Z", "more than five years ahead"),
        ("0001-01-01T00:00:00Z", "before 2000-01-01"),
        ("1999-12-31T23:00:00Z", "before 2000-01-01"),
        ((datetime.now(UTC) + timedelta(days=6 * 366)).strftime("%Y-%m-%dT%H:00:00Z"), "more than five years ahead"),
    ],
)
async def test_an_implausible_delivery_start_is_refused_and_nothing_is_stored(
    api: Api, start: str, detail: str
) -> None:
    assert (await _post(api, timezone="Europe/Oslo", prices=DAY)).status_code == 200
    response = await _post(api, prices=[DAY[0], {"delivery_start": start, "price": 1}])
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["pointer"] == "/prices/1/delivery_start" and error["code"] == "out_of_range"
    assert detail in error["detail"]
    assert len(await _stored(api)) == 24


async def test_the_bounds_of_the_plausible_range_are_accepted(api: Api) -> None:
    edges = [{"delivery_start": "2000-01-01T00:00:00Z", "price": 1}]
    edges.append(
        {"delivery_start": (datetime.now(UTC) + timedelta(days=4 * 366)).strftime("%Y-%m-%dT%H:00:00Z"), "price": 2}
    )
    response = await _post(api, timezone="Europe/Oslo", prices=edges)
    assert response.status_code == 200, response.text


async def test_imports_report_implausible_rows_and_store_the_rest(api: Api) -> None:
    now = datetime.now(UTC)
    batch = PriceBatch(source="test", resolution_minutes=60, currency="EUR", unit="EUR/MWh")
    good = datetime(2024, 5, 1, 0, tzinfo=UTC)
    batch.points = [
        PricePoint(good, 10.0, 2),
        PricePoint(datetime(9999, 12, 31, 23, tzinfo=UTC), 1.0, 3),
        PricePoint(datetime(1, 1, 1, tzinfo=UTC), 1.0, 4),
    ]
    async with api.app.state.session_factory() as session:
        report = await import_batch(session=session, market="NP", timezone="Europe/Oslo", batch=batch, now=now)
        await session.commit()
    assert [e.line for e in report.errors] == [3, 4] and report.result.new == 1
    assert "more than five years ahead" in report.errors[0].reason and "before 2000-01-01" in report.errors[1].reason
    assert [item["delivery_start"] for item in await _stored(api)] == ["2024-05-01T00:00:00Z"]
    async with api.app.state.session_factory() as session:
        with pytest.raises(PricesRejected, match="implausible"):
            await price_service.upsert_prices(
                session=session, market="NP", batch=batch, points=batch.points[1:], now=now
            )


@pytest.mark.parametrize(
    ("change", "pointer", "detail"),
    [
        ({"currency": "USD"}, "/currency", "market NP's prices are in EUR, not USD"),
        ({"unit": "EUR/kWh"}, "/unit", "market NP's prices are in EUR/MWh, not EUR/kWh"),
        ({"timezone": "America/New_York"}, "/timezone", "market NP's time zone is Europe/Oslo, not America/New_York"),
    ],
)
async def test_a_batch_contradicting_the_market_is_refused_and_nothing_changes(
    api: Api, change: dict[str, str], pointer: str, detail: str
) -> None:
    assert (await _post(api, timezone="Europe/Oslo", prices=DAY)).status_code == 200
    response = await _post(api, prices=[{**DAY[0], "price": 99}], **change)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"pointer": pointer, "code": "conflict", "detail": detail}]
    first = (await _stored(api))[0]
    assert (first["price"], first["currency"], first["unit"]) == (30, "EUR", "EUR/MWh")
    same = await _post(api, timezone="Europe/Oslo", currency="EUR", unit="EUR/MWh", prices=[{**DAY[0], "price": 99}])
    assert same.json() == {"new": 0, "changed": 1, "unchanged": 0}


async def test_a_market_keeps_its_currency_when_a_batch_names_none(api: Api) -> None:
    assert (await _post(api, timezone="Europe/Oslo", currency="NOK", prices=DAY[:1])).status_code == 200
    assert (await _post(api, prices=DAY[1:2])).status_code == 200
    assert {(i["currency"], i["unit"]) for i in await _stored(api)} == {("NOK", "NOK/MWh")}


async def test_an_import_in_another_currency_is_refused_whole(api: Api) -> None:
    assert (await _post(api, timezone="Europe/Oslo", prices=DAY[:1])).status_code == 200
    batch = PriceBatch(source="test", resolution_minutes=60, currency="USD", unit="USD/MWh")
    batch.points = [PricePoint(datetime(2024, 5, 1, 1, tzinfo=UTC), 5.0, 2)]
    async with api.app.state.session_factory() as session:
        with pytest.raises(PricesRejected, match="prices are in EUR, not USD"):
            await import_batch(session=session, market="NP", timezone="Europe/Oslo", batch=batch, now=datetime.now(UTC))


@pytest.mark.parametrize("price", [True, False, "3"])
async def test_a_price_must_be_a_json_number(api: Api, price: object) -> None:
    response = await _post(api, timezone="Europe/Oslo", prices=[{**DAY[0], "price": price}])
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/prices/0/price"]
