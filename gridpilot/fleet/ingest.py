"""Pull schedules from an external REST source: patient fetches, then per-schedule validation and partial storage.

A fetch is retried with exponential backoff and jitter on network errors, 5xx and 429;
other answers are final. The valid schedules of a list are stored even when their
neighbours are refused, and every refused one is logged with its reasons.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gridpilot.auth.schemas import Actor
from gridpilot.config import Settings
from gridpilot.db import utcnow
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet.exceptions import ScheduleRejected
from gridpilot.fleet.schemas import RejectedSchedule
from gridpilot.problem import DomainError
from gridpilot.protocol import json_type

logger = logging.getLogger(__name__)
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
_DURATION = re.compile(r"(\d+)([smh])")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600}


class IngestSourceError(Exception):
    """The source could not be read, or its answer was not a list of schedules."""


class _RetryableStatus(Exception):
    """A 5xx or 429 answer: the source may do better on another try."""

    def __init__(self, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Retry:
    """How many times and how patiently to fetch: exponential backoff with jitter, capped at max_wait_s."""

    attempts: int = 5
    initial_wait_s: float = 1.0
    max_wait_s: float = 30.0


DEFAULT_RETRY = Retry()


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingestion run fetched, stored and refused."""

    fetched: int
    accepted: int
    rejected: int


def redact_url(url: str) -> str:
    """The URL without credentials, query string or fragment, safe to log."""
    try:
        return str(httpx.URL(url).copy_with(userinfo=b"", query=None, fragment=None))
    except httpx.InvalidURL:
        return "<invalid URL>"


def parse_duration(text: str) -> float:
    """Seconds in a duration such as '30s', '5m' or '1h'."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"invalid duration {text!r}: use a positive whole number followed by s, m or h (30s, 5m, 1h)")
    return float(int(match[1]) * _SECONDS_PER_UNIT[match[2]])


async def fetch_schedules(
    *,
    client: httpx.AsyncClient,
    url: str,
    attempts: int,
    initial_wait_s: float = 1.0,
    max_wait_s: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    log: logging.Logger = logger,
) -> list[object]:
    """GET the source's list of schedules, retrying network errors, 5xx and 429 with backoff and jitter."""
    where = redact_url(url)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_backoff(initial_wait_s=initial_wait_s, max_wait_s=max_wait_s),
        retry=retry_if_exception(_is_retryable),
        before_sleep=_log_retry(log, where),
    )
    try:
        body: bytes = await retrying(_get_once, client=client, url=url, where=where, max_bytes=max_bytes)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise IngestSourceError(f"{where}: gave up after {attempts} attempt(s), the last: {_describe(last)}") from last
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise IngestSourceError(f"{where}: {_describe(exc)}; not retried") from exc
    return _schedules_in(body, where)


async def _get_once(*, client: httpx.AsyncClient, url: str, where: str, max_bytes: int) -> bytes:
    """One GET: the body of a 2xx answer; a retryable status raises _RetryableStatus, any other is final."""
    async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
        status = response.status_code
        if status == httpx.codes.TOO_MANY_REQUESTS or status >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise _RetryableStatus(status, _retry_after_s(response.headers.get("retry-after")))
        if not response.is_success:
            raise IngestSourceError(f"{where}: HTTP {status} {response.reason_phrase}; not retried")
        return await _read_capped(response, where=where, max_bytes=max_bytes)


async def _read_capped(response: httpx.Response, *, where: str, max_bytes: int) -> bytes:
    """The body, refused as soon as it grows past max_bytes."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise IngestSourceError(f"{where}: the answer is larger than {max_bytes} bytes; not retried")
    return bytes(body)


def _is_retryable(exc: BaseException) -> bool:
    """Network errors (timeouts included) and 5xx/429 answers; never a URL with an unsupported scheme."""
    if isinstance(exc, httpx.UnsupportedProtocol):
        return False
    return isinstance(exc, _RetryableStatus | httpx.TransportError)


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds, when given as a number (HTTP dates are ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def _backoff(*, initial_wait_s: float, max_wait_s: float) -> Callable[[RetryCallState], float]:
    """Exponential backoff with jitter; a longer Retry-After is honoured up to max_wait_s."""
    exponential = wait_exponential_jitter(multiplier=initial_wait_s, max=max_wait_s, jitter=initial_wait_s)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        seconds = exponential(state)
        if isinstance(error, _RetryableStatus) and error.retry_after_s is not None:
            seconds = min(max(seconds, error.retry_after_s), max_wait_s)
        return seconds

    return wait


def _log_retry(log: logging.Logger, where: str) -> Callable[[RetryCallState], None]:
    """Log each failed attempt that will be tried again."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "ingest: fetch from %s failed (%s) on attempt %d; retrying in %.2fs",
            where,
            _describe(error),
            state.attempt_number,
            wait_s,
            extra={"source_url": where, "attempt": state.attempt_number, "error": _describe(error)},
        )

    return before_sleep


def _describe(error: BaseException | None) -> str:
    """A short, secret-free description of why an attempt failed."""
    if error is None or isinstance(error, _RetryableStatus):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _schedules_in(body: bytes, where: str) -> list[object]:
    """The schedules in a JSON array, or in the 'schedules' array of a JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        start = body[:40].decode("utf-8", "replace")
        raise IngestSourceError(f"{where}: the answer is not JSON ({exc}); it starts with {start!r}") from None
    if isinstance(data, dict) and isinstance(data.get("schedules"), list):
        data = data["schedules"]
    if not isinstance(data, list):
        raise IngestSourceError(
            f"{where}: expected a JSON array of schedules (or an object with a 'schedules' array);"
            f" got {_json_kind(data)}"
        )
    return data


def _json_kind(data: object) -> str:
    if isinstance(data, dict):
        return "an object without a 'schedules' array"
    return json_type(data)


async def ingest_once(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    now_fn: Callable[[], datetime] = utcnow,
    log: logging.Logger = logger,
    retry: Retry = DEFAULT_RETRY,
) -> IngestReport:
    """Fetch the source's schedules, store the valid ones in one transaction, log every refused one."""
    where = redact_url(url)
    items = await fetch_schedules(
        client=client,
        url=url,
        attempts=retry.attempts,
        initial_wait_s=retry.initial_wait_s,
        max_wait_s=retry.max_wait_s,
        max_bytes=settings.max_body_bytes,
        log=log,
    )
    accepted, rejected = 0, list[RejectedSchedule]()
    if items:
        accepted, rejected = await _store(
            session_factory=session_factory, items=items, actor=_actor(url), now=now_fn(), settings=settings
        )
    for refused in rejected:
        _log_rejected(log, where, refused)
    report = IngestReport(fetched=len(items), accepted=accepted, rejected=len(rejected))
    log.info(
        "ingest: %d schedule(s) from %s, %d stored, %d rejected",
        report.fetched,
        where,
        report.accepted,
        report.rejected,
        extra={"source_url": where, **asdict(report)},
    )
    return report


async def _store(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    items: list[object],
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> tuple[int, list[RejectedSchedule]]:
    """Submit the whole list as a partial batch; the stored count and the refused schedules."""
    policy = schedule_service.schedule_policy(settings)
    async with session_factory() as session:
        try:
            result = await schedule_service.submit(
                session=session,
                raws=items,
                actor=actor,
                now=now,
                policy=policy,
                batch=True,
                partial=True,
                source="ingest",
            )
        except ScheduleRejected as exc:
            return 0, _all_rejected(items, exc.errors)
        await session.commit()
    return len(result.accepted), result.rejected


def _all_rejected(items: Sequence[object], errors: Sequence[dict[str, Any]]) -> list[RejectedSchedule]:
    """Every schedule refused, each with its own errors (told apart by the /{index} prefix of their pointers)."""
    by_index: dict[int, list[dict[str, str]]] = {}
    for error in errors:
        head = str(error.get("pointer", "")).split("/")[1:2]
        index = int(head[0]) if head and head[0].isdigit() else -1
        by_index.setdefault(index, []).append({key: str(value) for key, value in error.items()})
    return [
        RejectedSchedule(index=index, device_id=_device_id(item), errors=by_index.get(index, []))
        for index, item in enumerate(items)
    ]


def _device_id(item: object) -> str | None:
    device_id = item.get("device_id") if isinstance(item, dict) else None
    return device_id if isinstance(device_id, str) else None


def _actor(url: str) -> Actor:
    """The system actor that stores a source's schedules, named after its host."""
    return Actor(kind="system", id="ingest", name=f"ingest:{httpx.URL(url).host[:100]}")


def _log_rejected(log: logging.Logger, where: str, refused: RejectedSchedule) -> None:
    """One warning per refused schedule, with every reason (pointer and detail), never the schedule itself."""
    reasons = "; ".join(f"{e.get('pointer') or '/'}: {e.get('detail', '')}" for e in refused.errors)
    log.warning(
        "ingest: schedule %d (device %s) from %s rejected: %s",
        refused.index,
        refused.device_id or "?",
        where,
        reasons or "invalid",
        extra={"source_url": where, "index": refused.index, "device_id": refused.device_id, "errors": refused.errors},
    )


async def run_every(
    *,
    interval_s: float,
    run_once: Callable[[], Awaitable[IngestReport]],
    on_report: Callable[[IngestReport], object] | None = None,
    log: logging.Logger = logger,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run an ingestion every interval_s seconds until cancelled; a failed run is logged and the next goes ahead."""
    tick = clock()
    while True:
        report = await _run_logged(run_once, log)
        if report is not None and on_report is not None:
            on_report(report)
        tick = _next_tick(tick, interval_s, clock())
        await asyncio.sleep(max(0.0, tick - clock()))


async def _run_logged(run_once: Callable[[], Awaitable[IngestReport]], log: logging.Logger) -> IngestReport | None:
    """One run; its failure is logged rather than raised, so that the loop survives a bad source or database."""
    try:
        return await run_once()
    except IngestSourceError as exc:
        log.error("ingest failed: %s; trying again at the next interval", exc, extra={"error": str(exc)})
    except (SQLAlchemyError, DomainError, OSError):
        log.exception("ingest: storing the schedules failed; trying again at the next interval")
    return None


def _next_tick(previous: float, interval_s: float, now: float) -> float:
    """The first tick after now on the grid of previous: an overrunning run skips ticks rather than bursting."""
    return previous + max(1, math.floor((now - previous) / interval_s) + 1) * interval_s
