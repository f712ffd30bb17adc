"""Operators authenticate with API keys or JWTs; roles decide who writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridpilot.auth.tokens import issue_jwt
from tests.conftest import Api


async def test_api_key_exchanges_for_a_jwt_that_works(api: Api) -> None:
    response = await api.client.post("/api/v1/auth/token", headers=api.admin)
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "root"
    assert me.json()["role"] == "admin"


async def test_viewer_jwt_cannot_write(api: Api) -> None:
    token = (await api.client.post("/api/v1/auth/token", headers=api.viewer)).json()["access_token"]
    response = await api.client.post(
        "/api/v1/devices",
        headers={"Authorization": f"Bearer {token}"},
        json={"id": "b", "name": "b", "capacity_kwh": 1, "max_charge_kw": 1, "max_discharge_kw": 1},
    )
    assert response.status_code == 403


async def test_bad_expired_and_foreign_tokens_are_401(api: Api) -> None:
    secret = api.app.state.settings.secret_key.get_secret_value()
    expired = issue_jwt(
        secret=secret, operator_id=1, role="admin", now=datetime.now(UTC) - timedelta(hours=2), ttl_s=60
    )
    forged = issue_jwt(
        secret="another-secret-of-enough-length-0123456789",
        operator_id=1,
        role="admin",
        now=datetime.now(UTC),
        ttl_s=60,
    )
    for token in ("gpk_nope", expired, forged, "garbage", "a.b.c"):
        response = await api.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await api.client.get("/api/v1/devices")).status_code == 401
    assert (await api.client.post("/api/v1/auth/token", headers={"Authorization": "Bearer gpk_x"})).status_code == 401


async def test_device_credential_does_not_open_operator_routes(api: Api) -> None:
    _, credential = await api.register_device("bat-1")
    assert (await api.client.get("/api/v1/devices", headers=credential)).status_code == 401
