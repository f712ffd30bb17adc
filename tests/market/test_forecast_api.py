"""Forecast serving: the current model answers, predictions are logged, their error becomes a live metric."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gridpilot.config import Settings
from gridpilot.dependencies import get_now
from gridpilot.market import registry
from gridpilot.market.models import Price
from gridpilot.market.series import day_bounds
from gridpilot.market.series import price_series as to_series
from tests.conftest import Api
from tests.market.factories import hourly_points, store_points, weekly_price

TZ = "Europe/Oslo"
FIRST = date(2024, 9, 9)
DAYS = 56  # through 3 November, across the autumn DST change (27 October, 25 hours)
NEXT = FIRST + timedelta(days=DAYS)
NOW = datetime(2024, 11, 3, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def _train(api: Api, settings: Settings, name: str, *, promote: bool = True, **options: object) -> int:
    async with api.app.state.session_factory() as session:
        request = registry.TrainingRequest(market="NP", model_name=name, options=dict(options), holdout_days=3)
        record = await registry.train(session=session, settings=settings, request=request, now=NOW, promote=promote)
        await session.commit()
        return record.id


@pytest.fixture
async def seeded(api: Api, settings: Settings) -> Api:
    """NP with eight weeks of a weekly price pattern, and the clock on the morning before the next day."""
    async with api.app.state.session_factory() as session:
        await store_points(session, "NP", TZ, hourly_points(FIRST, DAYS, TZ), now=NOW)
        await session.commit()
    api.app.dependency_overrides[get_now] = lambda: NOW
    return api


async def _forecast(api: Api, day: date, market: str = "NP") -> tuple[int, dict[str, object]]:
    response = await api.client.post(
        "/api/v1/market/forecast", json={"market": market, "day": day.isoformat()}, headers=api.viewer
    )
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
    return response.status_code, response.json()


async def test_the_current_model_forecasts_every_period_of_the_day(seeded: Api, settings: Settings) -> None:
    model_id = await _train(seeded, settings, "naive-weekly")
    status, body = await _forecast(seeded, NEXT)
    assert status == 200, body
    assert body["model_id"] == model_id and body["model_name"] == "naive-weekly" and body["model_version"] == 1
    assert body["issued_at"] == "2024-11-03T10:00:00Z" and body["unit"] == "EUR/MWh"
    points = body["points"]
    assert isinstance(points, list) and len(points) == 24
    start, _ = day_bounds(NEXT, TZ)
    assert points[0]["delivery_start"] == start.isoformat().replace("+00:00", "Z")
    for point in points:
        instant = datetime.fromisoformat(point["delivery_start"])
        assert point["price"] == pytest.approx(weekly_price(instant, TZ))


async def test_a_saved_model_served_by_the_api_predicts_as_the_trained_one(seeded: Api, settings: Settings) -> None:
    model_id = await _train(seeded, settings, "lear", windows=[28, 35], min_window=28)
    status, body = await _forecast(seeded, NEXT)
    assert status == 200, body
    async with seeded.app.state.session_factory() as session:
        record = await registry.get(session=session, model_id=model_id)
        assert record.version == 1 and record.train_end == day_bounds(NEXT, TZ)[0] - timedelta(hours=1)
        assert set(record.metrics) >= {"holdout_mae", "holdout_rmse", "holdout_rmae"}
    points = hourly_points(NEXT - timedelta(days=14), 14, TZ)
    expected = registry.load(record, settings=settings).predict(to_series(points, TZ), NEXT)
    assert [p["price"] for p in body["points"]] == pytest.approx(list(expected), rel=0, abs=1e-9)


async def test_a_promotion_is_served_on_the_next_request(seeded: Api, settings: Settings) -> None:
    await _train(seeded, settings, "naive-weekly")
    assert (await _forecast(seeded, NEXT))[1]["model_name"] == "naive-weekly"
    daily = await _train(seeded, settings, "naive-daily", promote=False)
    assert (await _forecast(seeded, NEXT))[1]["model_name"] == "naive-weekly"
    async with seeded.app.state.session_factory() as session:
        await registry.promote(session=session, model_id=daily, now=NOW + timedelta(seconds=1))
        await session.commit()
    assert (await _forecast(seeded, NEXT))[1]["model_id"] == daily


async def test_every_refusal_is_specific(seeded: Api, settings: Settings) -> None:
    status, body = await _forecast(seeded, NEXT, market="XX")
    assert status == 404 and body["title"] == "Unknown market"
    status, body = await _forecast(seeded, NEXT)
    assert status == 409 and body["title"] == "No current forecast model"
    await _train(seeded, settings, "naive-weekly")
    status, body = await _forecast(seeded, NEXT + timedelta(days=2))
    assert status == 422 and body["latest_price_day"] == "2024-11-03"
    status, body = await _forecast(seeded, FIRST + timedelta(days=3))
    assert status == 409 and body["title"] == "Not enough price history"
    assert body["missing_days"] == ["2024-09-05", "2024-09-06", "2024-09-07", "2024-09-08"]
    assert "stored prices start on 2024-09-09" in body["detail"]
    shutil.rmtree(Path(settings.model_store) / "NP")
    seeded.app.state.model_cache = type(seeded.app.state.model_cache)()
    status, body = await _forecast(seeded, NEXT)
    assert status == 503 and body["title"] == "Forecast model unavailable"


async def test_implausible_rows_an_older_version_stored_do_not_break_training_or_serving(
    seeded: Api, settings: Settings
) -> None:
    async with seeded.app.state.session_factory() as session:  # as stored before the imports checked delivery starts
        for start in (datetime(9999, 12, 31, 23, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)):
            session.add(
                Price(
                    market="NP",
                    delivery_start=start,
                    resolution_minutes=60,
                    price=1.0,
                    currency="EUR",
                    unit="EUR/MWh",
                    source="old",
                    known_at=NOW,
                )
            )
        await session.commit()
    model_id = await _train(seeded, settings, "naive-daily")
    async with seeded.app.state.session_factory() as session:
        record = await registry.get(session=session, model_id=model_id)
        assert record.train_start == day_bounds(FIRST, TZ)[0] and record.train_end == day_bounds(NEXT, TZ)[0] - HOUR
    status, body = await _forecast(seeded, NEXT)
    assert status == 200, body
    status, body = await _forecast(seeded, NEXT + timedelta(days=2))
    assert status == 422 and body["latest_price_day"] == "2024-11-03"


async def test_served_forecasts_are_logged_and_scored_once_actuals_arrive(seeded: Api, settings: Settings) -> None:
    await _train(seeded, settings, "naive-weekly")
    assert (await _forecast(seeded, NEXT))[0] == 200
    errors = await seeded.client.get("/api/v1/market/forecast-errors", params={"market": "NP"}, headers=seeded.viewer)
    assert errors.json()["periods"] == 0 and errors.json()["mae"] is None
    actuals = [
        {"delivery_start": start.isoformat(), "price": price + 2.0} for start, price in hourly_points(NEXT, 1, TZ)
    ]
    posted = await seeded.client.post(
        "/api/v1/market/prices", json={"market": "NP", "prices": actuals}, headers=seeded.admin
    )
    assert posted.status_code == 200, posted.text
    seeded.app.dependency_overrides[get_now] = lambda: NOW + timedelta(days=2)
    errors = await seeded.client.get("/api/v1/market/forecast-errors", params={"market": "NP"}, headers=seeded.viewer)
    assert errors.status_code == 200
    body = errors.json()
    assert body["periods"] == 24 and body["mae"] == pytest.approx(2.0)
    metrics = (await seeded.client.get("/metrics")).text
    assert 'gridpilot_forecast_mae{market="NP"} 2.0' in metrics
    assert 'gridpilot_forecast_error_periods{market="NP"} 24.0' in metrics


@pytest.mark.parametrize(
    ("day", "detail"),
    [
        ("9999-12-31", "a day-ahead forecast reaches 2024-11-04 at most, not 9999-12-31"),
        ("0001-01-01", "0001-01-01 is before 2000-01-01"),
        ("2000-01-01", "prices missing on"),
    ],
)
async def test_a_day_at_either_end_of_the_calendar_is_refused_cleanly(
    seeded: Api, settings: Settings, day: str, detail: str
) -> None:
    await _train(seeded, settings, "naive-weekly")
    response = await seeded.client.post(
        "/api/v1/market/forecast", json={"market": "NP", "day": day}, headers=seeded.viewer
    )
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert detail in body["detail"]
    if day == "2000-01-01":  # the first day handled: its lag days are simply missing
        assert response.status_code == 409 and body["title"] == "Not enough price history"
    else:
        assert response.status_code == 422 and body["title"] == "Day out of range"
        assert [e["pointer"] for e in body["errors"]] == ["/day"]


async def test_a_day_given_as_a_number_is_refused_as_not_an_iso_date(seeded: Api) -> None:
    response = await seeded.client.post(
        "/api/v1/market/forecast", json={"market": "NP", "day": 20241104}, headers=seeded.viewer
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["pointer"] == "/day" and "ISO date string (YYYY-MM-DD)" in error["detail"]
