"""Prices from any JSON REST endpoint: where the list is and which fields hold the time and the price."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gridpilot.market.imports.batch import PriceBatch, PricePoint, RowError
from gridpilot.market.imports.csv_file import parse_price
from gridpilot.market.imports.timestamps import LocalTimes, TimestampError


class JsonSourceError(RuntimeError):
    """The endpoint did not answer with a readable document; nothing was read."""


@dataclass(frozen=True, slots=True)
class JsonLayout:
    """Where the prices are: a dotted path to the list ('' = the document itself) and the fields of each item."""

    items_path: str = ""
    timestamp_field: str = "timestamp"
    price_field: str = "price"


def _items(document: Any, path: str) -> list[Any]:
    node = document
    for key in filter(None, path.split(".")):
        if not isinstance(node, dict) or key not in node:
            raise JsonSourceError(f"the document has no {path!r} (stopped at {key!r})")
        node = node[key]
    if not isinstance(node, list):
        raise JsonSourceError(f"{path or 'the document'} is a {type(node).__name__}, not a list of prices")
    return node


async def fetch_json(
    *, client: httpx.AsyncClient, url: str, layout: JsonLayout, timezone: ZoneInfo, batch: PriceBatch
) -> PriceBatch:
    """Add the endpoint's items to `batch`; an item without a readable time or price is a RowError (its index)."""
    try:
        response = await client.get(url)
        response.raise_for_status()
        document = response.json()
    except httpx.HTTPStatusError as exc:
        raise JsonSourceError(f"the source answered {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise JsonSourceError(f"the source did not answer: {type(exc).__name__}: {exc}") from None
    except ValueError:
        raise JsonSourceError("the source's answer is not JSON") from None
    local_times = LocalTimes(timezone)
    for index, item in enumerate(_items(document, layout.items_path)):
        batch.rows_read += 1
        if not isinstance(item, dict):
            batch.errors.append(RowError(index, f"a {type(item).__name__}, not an object"))
            continue
        missing = [f for f in (layout.timestamp_field, layout.price_field) if item.get(f) is None]
        if missing:
            batch.errors.append(RowError(index, f"no {' or '.join(map(repr, missing))}"))
            continue
        try:
            start = local_times.to_utc(str(item[layout.timestamp_field]))
            price = parse_price(str(item[layout.price_field]))
        except (TimestampError, ValueError) as exc:
            batch.errors.append(RowError(index, str(exc)))
            continue
        batch.points.append(PricePoint(start, price, index))
    return batch
