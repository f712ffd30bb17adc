"""Prices API: bulk upserts refused whole with a pointer per bad row, idempotent re-sends, range reads."""

from __future__ import annotations

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
