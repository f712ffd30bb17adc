"""A simulated exchange that clears bids against the actual prices: for backtests, demos and tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from gridpilot.market.bidding.exchange import Acceptance, Submission, SubmissionRefused, SubmissionResult, clears


class SimulatedExchange:
    """Clears every bid whole or not at all at the hour's actual price; a key already booked returns its booking."""

    def __init__(self, prices: Mapping[datetime, float]) -> None:
        self._prices = dict(prices)
        self._booked: dict[str, SubmissionResult] = {}

    @property
    def booked(self) -> dict[str, SubmissionResult]:
        """What was booked, by submission key (each key exactly once)."""
        return dict(self._booked)

    async def submit(self, submission: Submission) -> SubmissionResult:
        """Book the submission once; a resend of the same key returns the first booking unchanged."""
        if submission.key in self._booked:
            return self._booked[submission.key]
        missing = [bid.delivery_start for bid in submission.bids if bid.delivery_start not in self._prices]
        if missing:
            raise SubmissionRefused(
                f"no actual price of {submission.market} for {len(missing)} hour(s), first {missing[0].isoformat()}"
            )
        acceptances = []
        for bid in submission.bids:
            price = self._prices[bid.delivery_start]
            accepted = bid.quantity_mw if clears(bid.side, bid.limit_price, price) else 0.0
            acceptances.append(Acceptance(bid.delivery_start, accepted, price))
        result = SubmissionResult(submission.key, tuple(acceptances))
        self._booked[submission.key] = result
        return result
