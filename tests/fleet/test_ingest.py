"""External schedule ingestion against a real local HTTP server that misbehaves: 5xx, timeouts, garbage."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from gridpilot import migrate as migrations
from gridpilot.auth.schemas import SYSTEM
from gridpilot.cli import app as cli_app
from gridpilot.cli._session import run_in_session
from gridpilot.config import Settings
from gridpilot.db import utcnow
from gridpilot.fleet import schedules as schedule_service
from gridpilot.fleet import service as device_service
from gridpilot.fleet.ingest import (
    IngestReport,
    IngestSourceError,
    Retry,
    fetch_schedules,
    ingest_once,
    parse_duration,
    run_every,
)
from gridpilot.fleet.schemas import DeviceIn
from tests.conftest import Api
from tests.fleet.factories import schedule

FAST = Retry(attempts=3, initial_wait_s=0.01, max_wait_s=0.02)
LOGGER = "gridpilot.fleet.ingest"


@dataclass
class Step:
    """One scripted answer of the source."""

    status: int = 200
    body: object = field(default_factory=list)
    raw: bytes | None = None
    content_type: str = "application/json"
    delay_s: float = 0.0
    truncate: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return self.raw if self.raw is not None else json.dumps(self.body).encode()


class Source:
    """A real HTTP server on 127.0.0.1 that plays a script of answers, repeating the last one."""

    def __init__(self) -> None:
        self.steps: list[Step] = [Step()]
        self.requests: list[dict[str, str]] = []
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.source = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/schedules"

    def script(self, *steps: Step) -> None:
        self.steps = list(steps)

    def next_step(self, headers: dict[str, str]) -> Step:
        with self._lock:
            self.requests.append(headers)
            return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    source: Source

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up on a slow answer is part of the script, not an error."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        source = self.server.source
        step = source.next_step(dict(self.headers))
        if step.delay_s and source.stopped.wait(step.delay_s):
            return
        body = step.payload()
        self.send_response(step.status)
        self.send_header("Content-Type", step.content_type)
        self.send_header("Content-Length", str(len(body) + (1000 if step.truncate else 0)))
        for name, value in step.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def source() -> Iterator[Source]:
    server = Source()
    server.start()
    yield server
    server.stop()


async def _ingest(
    api: Api, url: str, *, retry: Retry = FAST, client_timeout_s: float = 5.0, **client: object
) -> IngestReport:
    async with httpx.AsyncClient(timeout=client_timeout_s, **client) as http:  # type: ignore[arg-type]
        return await ingest_once(
            session_factory=api.app.state.session_factory,
            client=http,
            url=url,
            settings=api.app.state.settings,
            retry=retry,
        )


async def _history(api: Api, device_id: str) -> list[dict[str, object]]:
    response = await api.client.get(f"/api/v1/devices/{device_id}/schedules", headers=api.viewer)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_5xx_and_429_are_retried_and_every_schedule_is_stored(
    api: Api, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    await api.register_device("bat-1")
    await api.register_device("bat-2")
    source.script(
        Step(503, raw=b"<html>down</html>", content_type="text/html"),
        Step(429, headers={"Retry-After": "3600"}),
        Step(body=[schedule("bat-1"), schedule("bat-2")]),
    )
    report = await asyncio.wait_for(_ingest(api, source.url), timeout=30)
    assert report == IngestReport(fetched=2, accepted=2, rejected=0)
    assert len(source.requests) == 3
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.attempt for r in retries] == [1, 2]  # type: ignore[attr-defined]
    for device_id in ("bat-1", "bat-2"):
        [stored] = await _history(api, device_id)
        assert stored["source"] == "ingest"
        assert stored["created_by"] == "system:ingest:127.0.0.1"


async def test_a_source_slower_than_the_timeout_is_retried(api: Api, source: Source) -> None:
    await api.register_device("bat-1")
    source.script(Step(body=[schedule("bat-1")], delay_s=2.0), Step(body=[schedule("bat-1")]))
    report = await _ingest(api, source.url, client_timeout_s=0.2)
    assert report.accepted == 1
    assert len(source.requests) == 2
    assert len(await _history(api, "bat-1")) == 1


async def test_a_connection_dropped_mid_answer_is_retried(api: Api, source: Source) -> None:
    await api.register_device("bat-1")
    source.script(Step(body=[schedule("bat-1")], truncate=True), Step(body=[schedule("bat-1")]))
    assert (await _ingest(api, source.url)).accepted == 1
    assert len(source.requests) == 2


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        (b"not json{", "application/json", "not JSON"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html", "not JSON"),
        (b"", "application/json", "not JSON"),
        (b"\xff\xfe\x00garbage", "application/octet-stream", "not JSON"),
        (b"42", "application/json", "got a number"),
        (b'"schedules"', "application/json", "got a string"),
        (b"null", "application/json", "got null"),
        (b'{"items": []}', "application/json", "without a 'schedules' array"),
    ],
)
async def test_garbage_is_a_clear_error_at_once_and_nothing_is_stored(
    api: Api, source: Source, raw: bytes, content_type: str, message: str
) -> None:
    await api.register_device("bat-1")
    source.script(Step(raw=raw, content_type=content_type))
    with pytest.raises(IngestSourceError, match=message) as caught:
        await _ingest(api, source.url)
    assert "127.0.0.1" in str(caught.value)
    assert len(source.requests) == 1
    assert await _history(api, "bat-1") == []


async def test_a_source_that_keeps_failing_is_given_up_after_the_attempts(api: Api, source: Source) -> None:
    await api.register_device("bat-1")
    source.script(Step(503, raw=b"<html>maintenance</html>", content_type="text/html"))
    with pytest.raises(IngestSourceError, match=r"gave up after 3 attempt\(s\), the last: HTTP 503"):
        await _ingest(api, source.url)
    assert len(source.requests) == 3
    assert await _history(api, "bat-1") == []


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_other_4xx_are_not_retried(api: Api, source: Source, status: int) -> None:
    source.script(Step(status, body={"error": "no"}), Step(body=[schedule("bat-1")]))
    with pytest.raises(IngestSourceError, match=f"HTTP {status}.*not retried"):
        await _ingest(api, source.url)
    assert len(source.requests) == 1


async def test_valid_schedules_are_stored_and_each_bad_one_logged_with_its_reasons(
    api: Api, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    for device_id in ("bat-1", "bat-2", "bat-3"):
        await api.register_device(device_id)
    items = [schedule("bat-1"), schedule("bat-2", rate_kw=50), schedule("ghost"), 42, schedule("bat-3")]
    source.script(Step(body={"schedules": items}))
    report = await _ingest(api, f"{source.url}?token=s3cret", headers={"Authorization": "Bearer hunter2"})
    assert report == IngestReport(fetched=5, accepted=2, rejected=3)
    assert source.requests[0]["Authorization"] == "Bearer hunter2"
    assert [len(await _history(api, d)) for d in ("bat-1", "bat-2", "bat-3")] == [1, 0, 1]
    rejected = {r.index: r for r in caplog.records if r.levelno == logging.WARNING}  # type: ignore[attr-defined]
    assert sorted(rejected) == [1, 2, 3]
    assert rejected[1].device_id == "bat-2"  # type: ignore[attr-defined]
    assert {e["pointer"] for e in rejected[1].errors} >= {"/1/intervals/0/rate_kw"}  # type: ignore[attr-defined]
    assert [e["pointer"] for e in rejected[2].errors] == ["/2/device_id"]  # type: ignore[attr-defined]
    assert rejected[3].device_id is None  # type: ignore[attr-defined]
    for record in rejected.values():
        assert record.errors and all(e["detail"] for e in record.errors)  # type: ignore[attr-defined]
        assert "rate_kw" in record.getMessage() or record.index != 1  # type: ignore[attr-defined]
    [summary] = [r for r in caplog.records if r.levelno == logging.INFO]
    assert (summary.accepted, summary.rejected) == (2, 3)  # type: ignore[attr-defined]
    assert "s3cret" not in caplog.text and "hunter2" not in caplog.text
    assert all("s3cret" not in str(vars(r)) for r in caplog.records)


async def test_a_list_with_nothing_valid_reports_every_schedule_as_rejected(
    api: Api, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    await api.register_device("bat-1")
    source.script(Step(body=[42, schedule("ghost"), schedule("bat-1", rate_kw=-1)]))
    assert await _ingest(api, source.url) == IngestReport(fetched=3, accepted=0, rejected=3)
    by_index = {r.index: r.errors for r in caplog.records}  # type: ignore[attr-defined]
    assert sorted(by_index) == [0, 1, 2]
    assert all(e["pointer"].startswith(f"/{i}") for i, errors in by_index.items() for e in errors)
    assert [e["pointer"] for e in by_index[1]] == ["/1/device_id"]
    assert by_index[0] and by_index[2]
    assert await _history(api, "bat-1") == []


async def test_an_empty_list_stores_nothing_and_is_no_error(api: Api, source: Source) -> None:
    source.script(Step(body=[]))
    assert await _ingest(api, source.url) == IngestReport(fetched=0, accepted=0, rejected=0)


async def test_an_unreachable_source_is_given_up_after_the_attempts() -> None:
    async with httpx.AsyncClient(timeout=1) as client:
        with pytest.raises(IngestSourceError, match=r"gave up after 2 attempt\(s\).*ConnectError"):
            await fetch_schedules(
                client=client, url=f"http://127.0.0.1:{_free_port()}/", attempts=2, initial_wait_s=0.01, max_wait_s=0.01
            )


async def test_an_oversized_answer_is_refused(source: Source) -> None:
    source.script(Step(body=[{"device_id": "x" * 100}]))
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(IngestSourceError, match="larger than 50 bytes"):
            await fetch_schedules(client=client, url=source.url, attempts=3, max_bytes=50)
    assert len(source.requests) == 1


async def test_the_loop_survives_a_failed_run_and_stores_on_the_next(
    api: Api, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    await api.register_device("bat-1")
    source.script(Step(503), Step(body=[schedule("bat-1")]))
    reports: list[IngestReport] = []
    stored = asyncio.Event()

    def on_report(report: IngestReport) -> None:
        reports.append(report)
        stored.set()

    once = functools.partial(_ingest, api, source.url, retry=Retry(attempts=1, initial_wait_s=0.01))
    loop = asyncio.create_task(run_every(interval_s=0.01, run_once=once, on_report=on_report))
    await asyncio.wait_for(stored.wait(), timeout=10)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert reports[0].accepted == 1
    assert any(r.levelno == logging.ERROR and "HTTP 503" in r.getMessage() for r in caplog.records)
    assert len(await _history(api, "bat-1")) >= 1


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), (" 2m ", 120)])
def test_durations_are_parsed(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "0s", "5d", "1.5m", "-5s", "5 m", "m", "5m30s"])
def test_other_durations_are_refused_clearly(text: str) -> None:
    with pytest.raises(ValueError, match="use a positive whole number followed by s, m or h"):
        parse_duration(text)


@pytest.fixture
def cli_settings(tmp_path: Path) -> Iterator[Settings]:
    """A migrated SQLite in tmp_path with device bat-1; the root logger is restored after the CLI reconfigured it."""
    settings = Settings(environment="test", data_dir=tmp_path)
    migrations.upgrade(settings)
    device = DeviceIn(id="bat-1", name="Battery 1", capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5)

    async def register(session: AsyncSession) -> None:
        await device_service.register(session=session, device_in=device, actor=SYSTEM, now=utcnow())

    run_in_session(settings, register)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield settings
    root.handlers[:] = handlers
    root.setLevel(level)


def test_cli_ingests_once_and_prints_a_summary(cli_settings: Settings, source: Source) -> None:
    source.script(Step(body=[schedule("bat-1"), 42]))
    env = {
        "GRIDPILOT_DATA_DIR": str(cli_settings.data_dir),
        "GRIDPILOT_ENVIRONMENT": "test",
        "COLUMNS": "200",
        "GRIDPILOT_DATABASE_URL": None,
        "GRIDPILOT_CONFIG": None,
        "GRIDPILOT_LOG_JSON": "false",
    }
    args = [
        "ingest",
        "schedules",
        "--url",
        f"{source.url}?token=s3cret",
        "--header",
        "X-Api-Key: k1",
        "--attempts",
        "2",
    ]
    result = CliRunner().invoke(cli_app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "fetched 2, stored 1, rejected 1" in result.stdout
    assert source.requests[0]["X-Api-Key"] == "k1"
    assert "s3cret" not in result.output

    async def history(session: AsyncSession) -> int:
        return len(await schedule_service.history(session=session, device_id="bat-1", limit=10, now=datetime.now(UTC)))

    assert run_in_session(cli_settings, history) == 1
    source.script(Step(404))
    failed = CliRunner().invoke(cli_app, args, env=env)
    assert failed.exit_code == 1
    assert "HTTP 404" in failed.stdout
    refused = CliRunner().invoke(cli_app, [*args, "--every", "5 minutes"], env=env)
    assert refused.exit_code == 2
    assert "invalid duration" in refused.output
