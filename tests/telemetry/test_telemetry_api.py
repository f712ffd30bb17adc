"""Telemetry: idempotent by (device, at), only from the device itself, nothing stored from a refused batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.conftest import Api
from tests.telemetry.factories import points

URL = "/api/v1/devices/bat-1/telemetry"
PLUS_TWO = timezone(timedelta(hours=2))  # the same instant in another offset is the same point


async def _stored(api: Api, device_id: str = "bat-1", query: str = "limit=10000") -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/v1/devices/{device_id}/telemetry?{query}", headers=api.viewer)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_points_are_stored_once_and_read_in_time_order(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    batch = points(3)
    batch[1]["at"] = datetime.fromisoformat(str(batch[1]["at"])).astimezone(PLUS_TWO).isoformat()
    shuffled = {"points": [batch[2], batch[0], batch[1]]}
    first = await api.client.post(URL, json=shuffled, headers=credential)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0}
    assert (await api.client.post(URL, json=shuffled, headers=credential)).json() == {"accepted": 0, "duplicates": 3}
    overlapping = {"points": [*batch[1:], *points(1, start=datetime.now(UTC) - timedelta(minutes=1))]}
    assert (await api.client.post(URL, json=overlapping, headers=credential)).json() == {"accepted": 1, "duplicates": 2}
    stored = await _stored(api)
    assert len(stored) == 4
    assert [datetime.fromisoformat(p["at"]) for p in stored] == sorted(datetime.fromisoformat(p["at"]) for p in stored)
    assert datetime.fromisoformat(stored[1]["at"]) == datetime.fromisoformat(str(batch[1]["at"]))
    assert stored[1]["at"].endswith(("Z", "+00:00"))
    assert {k: stored[0][k] for k in ("soc_pct", "power_kw", "state", "voltage_v", "temperature_c", "soh_pct")} == {
        "soc_pct": 50.0,
        "power_kw": -1.5,
        "state": "discharging",
        "voltage_v": 51.2,
        "temperature_c": 24.5,
        "soh_pct": 98.0,
    }


async def test_the_same_point_twice_in_one_batch_counts_once(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    point = points(1)[0]
    response = await api.client.post(URL, json={"points": [point, point]}, headers=credential)
    assert response.json() == {"accepted": 1, "duplicates": 1}


async def test_optional_fields_may_be_null_or_absent(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    first, second = points(2)
    second.update(voltage_v=None, temperature_c=None, soh_pct=None)
    for name in ("voltage_v", "temperature_c", "soh_pct"):
        del first[name]
    assert (await api.client.post(URL, json={"points": [first, second]}, headers=credential)).status_code == 200
    assert [p["voltage_v"] for p in await _stored(api)] == [None, None]


async def test_ten_thousand_points_in_one_batch(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    batch = {"points": points(10_000, step=timedelta(seconds=1))}
    response = await api.client.post(URL, json=batch, headers=credential)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 10_000, "duplicates": 0}
    assert (await api.client.post(URL, json=batch, headers=credential)).json() == {"accepted": 0, "duplicates": 10_000}
    assert len(await _stored(api)) == 10_000


async def test_range_and_limit(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    batch = points(10)
    await api.client.post(URL, json={"points": batch}, headers=credential)
    since, until = batch[2]["at"], batch[6]["at"]
    window = await _stored(api, query=f"since={since}&until={until}".replace("+", "%2B"))
    assert [datetime.fromisoformat(p["at"]) for p in window] == [
        datetime.fromisoformat(str(p["at"])) for p in batch[2:6]
    ]
    assert len(await _stored(api, query="limit=3")) == 3
    own = await api.client.get(URL, headers=credential)
    assert len(own.json()["items"]) == 10


@pytest.mark.parametrize(
    "query, parameter",
    [("since=2026-01-01T00:00:00", "query:since"), ("limit=10001", "query:limit"), ("limit=0", "query:limit")],
)
async def test_bad_read_parameters_are_422(api: Api, query: str, parameter: str) -> None:
    await api.register_device("bat-1")
    response = await api.client.get(f"{URL}?{query}", headers=api.viewer)
    assert response.status_code == 422
    assert parameter in {e.get("parameter") for e in response.json()["errors"]}


async def test_only_the_device_itself_posts_its_telemetry(api: Api) -> None:
    _, credential_a = await api.register_device("bat-a")
    _, credential_b = await api.register_device("bat-b")
    body = {"points": points(1)}
    url_b = "/api/v1/devices/bat-b/telemetry"
    assert (await api.client.post(url_b, json=body, headers=credential_a)).status_code == 403
    assert (await api.client.post(url_b, json=body, headers=api.admin)).status_code == 403
    assert (await api.client.post(url_b, json=body)).status_code == 401
    assert (await api.client.get(url_b, headers=credential_a)).status_code == 403
    assert (await api.client.post("/api/v1/devices/nope/telemetry", json=body, headers=credential_b)).status_code == 403
    assert await _stored(api, "bat-b") == []


def _with(index: int, **fields: object) -> dict[str, object]:
    batch = points(3)
    batch[index].update(fields)
    return {"points": batch}


def _unknown_field() -> dict[str, object]:
    batch = points(2)
    batch[1]["colour"] = "blue"
    return {"points": batch}


IN_FIVE_MINUTES = timedelta(minutes=5, seconds=30)


@pytest.mark.parametrize(
    "body, pointer",
    [
        pytest.param(_with(1, at="2026-01-01T00:00:00"), "/points/1/at", id="naive"),
        pytest.param(_with(2, power_kw=float("nan")), "/points/2/power_kw", id="nan"),
        pytest.param(_with(0, power_kw=float("inf")), "/points/0/power_kw", id="inf"),
        pytest.param(_with(1, soc_pct=101), "/points/1/soc_pct", id="soc-101"),
        pytest.param(_with(1, soh_pct=-1), "/points/1/soh_pct", id="soh-negative"),
        pytest.param(_with(1, state="sleeping"), "/points/1/state", id="state"),
        pytest.param(_unknown_field(), "/points/1/colour", id="unknown-field"),
        pytest.param({"points": []}, "/points", id="empty"),
        pytest.param({"points": points(10_001, step=timedelta(seconds=1))}, "/points", id="10001"),
        pytest.param({"points": points(1), "extra": 1}, "/extra", id="unknown-top-level"),
    ],
)
async def test_invalid_batches_are_422_and_store_nothing(api: Api, body: dict[str, object], pointer: str) -> None:
    _, credential = await api.register_device("bat-1")
    content = json.dumps(body)  # NaN and Infinity as Python's json writes them
    response = await api.client.post(URL, content=content, headers={**credential, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert pointer in {e.get("pointer") for e in response.json()["errors"]}
    assert await _stored(api) == []


async def test_points_stamped_in_the_future_refuse_the_batch(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    soon = datetime.now(UTC) + timedelta(minutes=4)
    late = datetime.now(UTC) + IN_FIVE_MINUTES
    batch = [*points(1), *points(1, start=soon), *points(1, start=late), *points(1, start=late + timedelta(days=365))]
    response = await api.client.post(URL, json={"points": batch}, headers=credential)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["pointer"] for e in errors] == ["/points/2/at", "/points/3/at"]
    assert {e["code"] for e in errors} == {"in_future"}
    assert await _stored(api) == []
    accepted = await api.client.post(URL, json={"points": batch[:2]}, headers=credential)
    assert accepted.json() == {"accepted": 2, "duplicates": 0}
