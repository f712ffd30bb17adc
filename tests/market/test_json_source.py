"""A generic JSON REST source, served by a real HTTP server on 127.0.0.1 for the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import httpx
import pytest

from gridpilot.market.imports.batch import PriceBatch
from gridpilot.market.imports.json_source import JsonLayout, JsonSourceError, fetch_json

DOCUMENTS: dict[str, tuple[int, bytes]] = {
    "/prices": (
        200,
        json.dumps(
            {
                "data": {
                    "series": [
                        {"start": "2024-10-27T01:00:00", "value": 40.1},
                        {"start": "2024-10-27T02:00:00", "value": 41.2},
                        {"start": "2024-10-27T02:00:00", "value": 39.9},
                        {"start": "2024-10-27T03:00:00", "value": "n/a"},
                        {"value": 12},
                        "garbage",
                    ]
                }
            }
        ).encode(),
    ),
    "/broken": (200, b"<html>maintenance</html>"),
    "/down": (503, b"{}"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = DOCUMENTS.get(self.path, (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real HTTP server on a free local port, serving DOCUMENTS."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def _fetch(url: str, layout: JsonLayout) -> PriceBatch:
    batch = PriceBatch(source="json", resolution_minutes=60, currency="EUR", unit="EUR/MWh", position="item")
    async with httpx.AsyncClient(timeout=5) as client:
        return await fetch_json(client=client, url=url, layout=layout, timezone=ZoneInfo("Europe/Oslo"), batch=batch)


async def test_items_map_to_utc_prices_and_bad_items_are_refused_by_index(server: str) -> None:
    batch = await _fetch(f"{server}/prices", JsonLayout("data.series", "start", "value"))
    assert batch.rows_read == 6
    assert [(p.delivery_start, p.price) for p in batch.points] == [
        (datetime(2024, 10, 26, 23, tzinfo=UTC), 40.1),
        (datetime(2024, 10, 27, 0, tzinfo=UTC), 41.2),
        (datetime(2024, 10, 27, 1, tzinfo=UTC), 39.9),  # the repeated 02:00, in order
    ]
    assert [(e.line, e.reason) for e in batch.errors] == [
        (3, "price 'n/a' is not a number"),
        (4, "no 'start'"),
        (5, "a str, not an object"),
    ]


async def test_a_wrong_path_or_a_broken_answer_is_one_clear_error(server: str) -> None:
    with pytest.raises(JsonSourceError, match=r"no 'data\.rows'"):
        await _fetch(f"{server}/prices", JsonLayout("data.rows", "start", "value"))
    with pytest.raises(JsonSourceError, match="not JSON"):
        await _fetch(f"{server}/broken", JsonLayout())
    with pytest.raises(JsonSourceError, match="answered 503"):
        await _fetch(f"{server}/down", JsonLayout())
