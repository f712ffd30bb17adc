"""Health checks, Prometheus metrics, request ids, problem+json for unknown routes."""

from __future__ import annotations

from gridpilot.app import create_app
from tests.conftest import Api
from tests.fleet.factories import schedule


async def test_live_and_ready(api: Api) -> None:
    assert (await api.client.get("/health/live")).json() == {"status": "ok"}
    ready = await api.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_ready_is_503_when_the_database_is_unreachable(api: Api) -> None:
    import httpx

    broken = create_app(
        api.app.state.settings.model_copy(update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"})
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=broken), base_url="http://t") as client:
        response = await client.get("/health/ready")
    await broken.state.engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_metrics_count_requests_by_route_template_and_domain_events(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    await api.client.post("/api/v1/schedules", json=schedule("bat-1"), headers=api.admin)
    await api.client.get("/api/v1/devices/bat-1/schedule", headers=credential)
    text = (await api.client.get("/metrics")).text
    assert 'route="/api/v1/devices/{device_id}/schedule"' in text
    assert "gridpilot_http_request_duration_seconds_bucket" in text
    assert 'gridpilot_schedules_total{outcome="accepted"}' in text
    assert 'gridpilot_devices{status="online"} 1.0' in text


async def test_request_id_is_generated_when_absent(api: Api) -> None:
    response = await api.client.get("/health/live")
    assert len(response.headers["x-request-id"]) == 32


async def test_unknown_route_is_problem_json(api: Api) -> None:
    response = await api.client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
