"""Day-ahead prices from the ENTSO-E Transparency Platform, through entsoe-py's pandas client."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pandas as pd
import requests
from bs4 import XMLParsedAsHTMLWarning
from entsoe.entsoe import EntsoePandasClient
from entsoe.exceptions import InvalidBusinessParameterError, NoMatchingDataError
from entsoe.mappings import lookup_area

from gridpilot.market.imports.batch import PriceBatch, PricePoint


class EntsoeSourceError(RuntimeError):
    """The platform refused or could not answer the query; nothing was read."""


def area_timezone(area: str) -> str:
    """The IANA time zone entsoe-py knows for a bidding zone code (e.g. NO_1, DE_LU, BE)."""
    try:
        return str(lookup_area(area).tz)
    except (KeyError, ValueError) as exc:
        raise EntsoeSourceError(f"unknown ENTSO-E area {area!r}") from exc


def fetch_day_ahead(
    *,
    api_key: str,
    area: str,
    start: datetime,
    end: datetime,
    session: requests.Session | None = None,
    timeout_s: int = 60,
) -> PriceBatch:
    """The area's day-ahead prices with start <= delivery start < end, as a batch in EUR/MWh."""
    client = EntsoePandasClient(api_key=api_key, session=session, retry_count=1, retry_delay=0, timeout=timeout_s)
    try:
        with warnings.catch_warnings():  # entsoe-py parses XML with bs4's HTML parser on purpose, and says so
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            series = client.query_day_ahead_prices(area, start=pd.Timestamp(start), end=pd.Timestamp(end))
    except NoMatchingDataError:
        raise EntsoeSourceError(f"ENTSO-E has no day-ahead prices for {area} from {start} to {end}") from None
    except InvalidBusinessParameterError:
        raise EntsoeSourceError(f"ENTSO-E refused the query for {area}: check the area") from None
    except requests.RequestException as exc:
        raise EntsoeSourceError(f"ENTSO-E did not answer: {type(exc).__name__}: {exc}") from None
    series = series[(series.index >= pd.Timestamp(start)) & (series.index < pd.Timestamp(end))].dropna()
    steps = pd.Series(series.index[1:] - series.index[:-1])
    resolution = int(pd.Timedelta(steps.mode().iloc[0]).total_seconds() // 60) if len(steps) else 60
    batch = PriceBatch(source=f"entsoe:{area}", resolution_minutes=resolution, currency="EUR", unit="EUR/MWh")
    for position, (stamp, price) in enumerate(series.items(), start=1):
        instant = pd.Timestamp(stamp).tz_convert(UTC).to_pydatetime()
        batch.points.append(PricePoint(instant, float(price), position))
    batch.rows_read = len(series)
    return batch
