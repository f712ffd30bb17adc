"""The agent's HTTP link to the cloud: fetch the schedule with If-None-Match, post acks, telemetry and reports.

Errors come out as two kinds: TransportError (the network or the server is down, retry
later) and RecordsRefused (the server will never take this batch, so retrying is pointless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

# 401/403 are retried too: a rotated credential is fixed by an operator, and the records must wait, not be buried.
_RETRYABLE_STATUS = {401, 403, 408, 425, 429, 500, 502, 503, 504}


class TransportError(Exception):
    """The cloud could not be reached or answered with a temporary failure."""


class RecordsRefused(Exception):
    """The cloud refused the batch for good (a 4xx other than throttling)."""


@dataclass(frozen=True, slots=True)
class FetchedSchedule:
    """A new device view (body) with its ETag; body is None when the server answered 304."""

    body: dict[str, Any] | None
    etag: str | None


class CloudClient:
    """HTTP calls to the gridpilot server, authenticated with the device credential."""

    def __init__(
        self,
        *,
        server_url: str,
        device_id: str,
        credential: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """`http` lets many simulated devices share one connection pool; a real agent owns its own."""
        self._url = f"{server_url}/api/v1/devices/{device_id}"
        self._headers = {"Authorization": f"Bearer {credential}", "User-Agent": "gridpilot-agent"}
        self._owned = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        """Close the connection pool (unless it is shared)."""
        if self._owned:
            await self._http.aclose()

    async def fetch_schedule(self, etag: str | None) -> FetchedSchedule:
        """The device's current view, or body None when `etag` is still current."""
        headers = {"If-None-Match": etag} if etag else {}
        response = await self._request("GET", f"{self._url}/schedule", headers=headers)
        if response.status_code == 304:
            return FetchedSchedule(None, etag)
        body = response.json()
        if not isinstance(body, dict):
            raise RecordsRefused("the schedule answer is not a JSON object")
        return FetchedSchedule(body, response.headers.get("ETag"))

    async def post_acks(self, acks: list[dict[str, Any]]) -> dict[str, Any]:
        """Send execution records; the answer counts new ones, replays and refusals."""
        response = await self._request("POST", f"{self._url}/acks", json={"acks": acks})
        result: dict[str, Any] = response.json()
        return result

    async def post_telemetry(self, points: list[dict[str, Any]]) -> None:
        """Send telemetry points (replays are harmless: the server keys them by device and time)."""
        await self._request("POST", f"{self._url}/telemetry", json={"points": points})

    async def post_rejection(self, report: dict[str, Any]) -> None:
        """Tell the cloud which schedule version the agent refused, and why."""
        await self._request("POST", f"{self._url}/schedule-rejections", json=report)

    async def post_heartbeat(self, heartbeat: dict[str, Any]) -> None:
        """The agent's state, including what its outbox holds."""
        await self._request("POST", f"{self._url}/heartbeat", json=heartbeat)

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(
                method, url, headers={**self._headers, **kwargs.pop("headers", {})}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in _RETRYABLE_STATUS:
            raise TransportError(f"{method} {url}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RecordsRefused(f"{method} {url}: HTTP {response.status_code}: {response.text[:500]}")
        return response
