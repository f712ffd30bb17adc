"""The market adapter interface: a submission of bids under an idempotency key, answered with accepted volumes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gridpilot.market.bidding.bids import Bid, Side


@dataclass(frozen=True, slots=True)
class Submission:
    """Bids for one market and delivery day; an exchange books a key once, however often it is sent."""

    key: str
    market: str
    bids: tuple[Bid, ...]


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The exchange's answer to one bid: the accepted volume (0: not cleared) at the clearing price."""

    delivery_start: datetime
    accepted_mw: float
    clearing_price: float


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    """Every bid's acceptance, in the submission's order."""

    key: str
    acceptances: tuple[Acceptance, ...]


class AdapterUnavailable(Exception):
    """A transient failure (timeout, connection lost, 5xx): the submission may be sent again under its key."""


class SubmissionRefused(Exception):
    """The exchange will not take the submission as it is (e.g. no price for an hour): sending it again won't help."""


class SubmissionFailed(Exception):
    """Every attempt failed transiently; the submission may or may not be booked, so resend it under its key."""

    def __init__(self, detail: str, *, attempts: int) -> None:
        super().__init__(detail)
        self.attempts = attempts


class MarketAdapter(Protocol):
    """An exchange, real or simulated."""

    async def submit(self, submission: Submission) -> SubmissionResult:
        """Book the bids (once per key) and return their acceptances; AdapterUnavailable when unsure."""
        ...


def clears(side: Side, limit_price: float, clearing_price: float) -> bool:
    """A buy clears when its limit is at or above the price, a sell when its limit is at or below it."""
    return limit_price >= clearing_price if side is Side.BUY else limit_price <= clearing_price


Sleep = Callable[[float], Awaitable[None]]


async def submit_with_retries(
    adapter: MarketAdapter,
    submission: Submission,
    *,
    sleep: Sleep,
    attempts: int = 4,
    first_delay_s: float = 0.5,
    max_delay_s: float = 8.0,
) -> tuple[SubmissionResult, int]:
    """Submit, retrying transient failures with doubling delays; the key makes every retry safe.

    Returns the result and how many attempts it took; SubmissionRefused passes through at once.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return await adapter.submit(submission), attempt
        except AdapterUnavailable as exc:
            if attempt == attempts:
                raise SubmissionFailed(
                    f"the exchange failed {attempts} time(s); last: {exc}", attempts=attempts
                ) from exc
            await sleep(delay)
            delay = min(delay * 2, max_delay_s)
    raise AssertionError("unreachable")
