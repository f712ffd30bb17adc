"""Timestamps at the API's edge: an offset is required, and UTC is what the server keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

MAX_CLOCK_AHEAD = timedelta(minutes=5)
"""How far ahead of the server clock a device may stamp a report; beyond it, the device's clock is broken."""


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise ValueError("the instant is outside the representable range") from None


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware timestamp (naive ones are refused), converted to UTC."""
