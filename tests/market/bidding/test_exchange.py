"""Clearing at the boundaries, the simulated exchange, and retries that never double-book."""

from __future__ import annotations

import pytest

from gridpilot.market.bidding import (
    AdapterUnavailable,
    Bid,
    Side,
    SimulatedExchange,
    Submission,
    SubmissionFailed,
    SubmissionRefused,
    SubmissionResult,
    clears,
    submit_with_retries,
)
from tests.market.bidding.factories import hours


@pytest.mark.parametrize(
    ("side", "limit", "price", "cleared"),
    [
        (Side.BUY, 50.0, 50.0, True),
        (Side.BUY, 50.0, 50.01, False),
        (Side.BUY, 50.0, 49.99, True),
        (Side.SELL, 50.0, 50.0, True),
        (Side.SELL, 50.0, 49.99, False),
        (Side.SELL, 50.0, 50.01, True),
        (Side.SELL, -500.0, -499.0, True),
    ],
)
def test_clearing_rule_at_the_boundary(side: Side, limit: float, price: float, cleared: bool) -> None:
    assert clears(side, limit, price) is cleared


def submission(key: str = "NP:2026-11-24") -> Submission:
    h = hours(2)
    return Submission(key, "NP", (Bid(h[0], Side.BUY, 1.0, 30.0), Bid(h[1], Side.SELL, 0.5, 60.0)))


async def test_the_simulated_exchange_accepts_what_clears_at_the_actual_price() -> None:
    h = hours(2)
    exchange = SimulatedExchange({h[0]: 30.0, h[1]: 59.0})
    result = await exchange.submit(submission())
    assert [(a.accepted_mw, a.clearing_price) for a in result.acceptances] == [(1.0, 30.0), (0.0, 59.0)]


async def test_a_missing_price_is_refused_not_retried() -> None:
    exchange = SimulatedExchange({hours(1)[0]: 30.0})
    calls = []

    async def sleep(seconds: float) -> None:
        calls.append(seconds)

    with pytest.raises(SubmissionRefused, match="no actual price"):
        await submit_with_retries(exchange, submission(), sleep=sleep)
    assert calls == []


class FlakyExchange:
    """Books the submission, then loses the answer `failures` times (the dangerous kind of failure)."""

    def __init__(self, inner: SimulatedExchange, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    async def submit(self, sub: Submission) -> SubmissionResult:
        self.calls += 1
        result = await self.inner.submit(sub)
        if self.calls <= self.failures:
            raise AdapterUnavailable("connection reset after sending")
        return result


async def test_retries_back_off_and_never_double_book() -> None:
    h = hours(2)
    inner = SimulatedExchange({h[0]: 10.0, h[1]: 90.0})
    flaky = FlakyExchange(inner, failures=2)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    result, attempts = await submit_with_retries(flaky, submission(), sleep=sleep, first_delay_s=0.5)
    assert attempts == 3 and delays == [0.5, 1.0]
    assert len(inner.booked) == 1
    assert [a.accepted_mw for a in result.acceptances] == [1.0, 0.5]
    again, _ = await submit_with_retries(flaky, submission(), sleep=sleep)
    assert again == result and len(inner.booked) == 1


async def test_giving_up_says_how_often_it_tried() -> None:
    flaky = FlakyExchange(SimulatedExchange({h: 1.0 for h in hours(2)}), failures=10)

    async def sleep(seconds: float) -> None:
        return None

    with pytest.raises(SubmissionFailed) as failure:
        await submit_with_retries(flaky, submission(), sleep=sleep, attempts=3)
    assert failure.value.attempts == 3 and flaky.calls == 3
