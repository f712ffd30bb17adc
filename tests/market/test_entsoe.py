"""ENTSO-E day-ahead prices through entsoe-py, answered from a recorded A44 document across the autumn DST day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from requests.adapters import BaseAdapter

from gridpilot.market.imports.batch import screen
from gridpilot.market.imports.entsoe_source import EntsoeSourceError, area_timezone, fetch_day_ahead

FIXTURES = Path(__file__).parent / "fixtures"
BRUSSELS = ZoneInfo("Europe/Brussels")


class RecordedPlatform(BaseAdapter):
    """Answers entsoe-py's requests with recorded documents: the prices at offset 0, 'no matching data' after."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.document = (FIXTURES / document).read_bytes()
        self.queries: list[dict[str, list[str]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        self.queries.append(query)
        response = requests.Response()
        response.status_code = 200
        response.headers["content-type"] = "text/xml"
        response.encoding = "utf-8"
        response.url = str(request.url)
        response.request = request
        recorded = query.get("offset") == ["0"]
        response._content = self.document if recorded else (FIXTURES / "entsoe_no_matching_data.xml").read_bytes()
        return response

    def close(self) -> None:
        """Nothing to release."""


def _session(adapter: RecordedPlatform) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    return session


def test_three_days_with_the_25_hour_day_read_to_utc_hours() -> None:
    platform = RecordedPlatform("entsoe_a44_be_2024-10-26_28.xml")
    batch = fetch_day_ahead(
        api_key="recorded-token",
        area="BE",
        session=_session(platform),
        start=datetime(2024, 10, 26, tzinfo=BRUSSELS),
        end=datetime(2024, 10, 29, tzinfo=BRUSSELS),
    )
    first = platform.queries[0]
    assert first["documentType"] == ["A44"] and first["in_Domain"] == ["10YBE----------2"]
    assert first["securityToken"] == ["recorded-token"]
    assert batch.resolution_minutes == 60 and batch.unit == "EUR/MWh" and batch.source == "entsoe:BE"
    starts = [p.delivery_start for p in batch.points]
    assert len(starts) == 24 + 25 + 24
    assert starts[0] == datetime(2024, 10, 25, 22, tzinfo=UTC)
    assert starts[-1] == datetime(2024, 10, 28, 22, tzinfo=UTC)
    screened = screen(batch.points, resolution_minutes=60)
    assert not screened.gaps and not screened.duplicates and not screened.errors
    prices = [p.price for p in batch.points]
    assert prices[5] == prices[4]  # the position A03 leaves out repeats the one before it
    assert prices[24 + 3] == pytest.approx(prices[24 + 2] - 1.3)  # the second 02:00 of the long day


def test_no_data_is_a_clear_error() -> None:
    platform = RecordedPlatform("entsoe_no_matching_data.xml")
    with pytest.raises(EntsoeSourceError, match="no day-ahead prices for BE"):
        fetch_day_ahead(
            api_key="t",
            area="BE",
            session=_session(platform),
            start=datetime(2030, 1, 1, tzinfo=BRUSSELS),
            end=datetime(2030, 1, 2, tzinfo=BRUSSELS),
        )


def test_the_area_names_its_time_zone() -> None:
    assert area_timezone("NO_1") == "Europe/Oslo"
    with pytest.raises(EntsoeSourceError, match="unknown ENTSO-E area"):
        area_timezone("ATLANTIS")
