"""Dashboard fixtures: logged-in HTTP clients, a real server on a port, and headless Chromium."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Page, sync_playwright

from gridpilot.app import create_app
from gridpilot.auth import service as auth_service
from gridpilot.auth.schemas import Role
from gridpilot.config import Settings
from tests.conftest import Api

T = TypeVar("T")
ADMIN = ("root", "root-password-1")
VIEWER = ("watcher", "watcher-password-1")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


async def set_passwords(app: FastAPI) -> None:
    """Give the api fixture's operators (root: admin, watcher: viewer) their dashboard passwords."""
    async with app.state.session_factory() as session:
        for name, password in (ADMIN, VIEWER):
            operator = await auth_service.get_operator_by_name(session=session, name=name)
            await auth_service.set_password(session=session, operator=operator, password=password)
        await session.commit()


async def log_in(client: httpx.AsyncClient, name: str, password: str) -> str:
    """Log the client in through the form; returns the session's CSRF token."""
    page = await client.get("/login")
    token = csrf_from(page.text)
    response = await client.post("/login", data={"username": name, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    return csrf_from((await client.get("/fleet")).text)


def csrf_from(html: str) -> str:
    """The CSRF token a page carries in its forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@dataclass
class Dashboard:
    """An admin's and a viewer's logged-in clients on the app, with their CSRF tokens."""

    api: Api
    admin: httpx.AsyncClient
    admin_csrf: str
    viewer: httpx.AsyncClient
    viewer_csrf: str


@pytest.fixture
async def dashboard(api: Api) -> AsyncIterator[Dashboard]:
    """The api fixture's app with both operators logged in to the dashboard."""
    await set_passwords(api.app)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://test") as admin,
        httpx.AsyncClient(transport=transport, base_url="http://test") as viewer,
    ):
        admin_csrf = await log_in(admin, *ADMIN)
        viewer_csrf = await log_in(viewer, *VIEWER)
        yield Dashboard(api, admin, admin_csrf, viewer, viewer_csrf)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """A gridpilot server running in uvicorn on a real port, in a thread of the test process."""

    url: str
    app: FastAPI
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Shut uvicorn down and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the server did not stop"


def start_server(settings: Settings, port: int) -> LiveServer:
    """Start the app on the port and wait until it accepts connections."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", app, settings, server, thread)


def seed_operators(settings: Settings) -> None:
    """Create the admin and the viewer with their passwords in the server's database."""

    async def seed() -> None:
        app = create_app(settings)
        async with app.state.session_factory() as session:
            for (name, password), role in ((ADMIN, Role.ADMIN), (VIEWER, Role.VIEWER)):
                operator = await auth_service.create_operator(session=session, name=name, role=role)
                await auth_service.set_password(session=session, operator=operator, password=password)
            await session.commit()
        await app.state.engine.dispose()

    run_outside_the_test_loop(seed)


def run_outside_the_test_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in its own thread (pytest-asyncio may have a loop running here)."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, work()).result()


@pytest.fixture
def server_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    """Settings for a real server on a fresh copy of the migrated SQLite database, with two operators."""
    shutil.copy(sqlite_template, tmp_path / "gridpilot.db")
    settings = Settings(environment="test", log_json=False, data_dir=tmp_path)  # type: ignore[call-arg]
    seed_operators(settings)
    return settings


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[LiveServer]:
    """The server on a real port for the browser tests."""
    server = start_server(server_settings, free_port())
    yield server
    server.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    """A page in Debian's Chromium, headless, driven by Playwright (no browser download).

    One browser per test: Playwright's sync API keeps an event loop running while it is open,
    which the asyncio tests that follow could not share.
    """
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("the browser tests need Debian's chromium package (scripts/test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/dashboard/ for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in_browser(page: Page, base_url: str, name: str, password: str) -> None:
    """Log in through the form as a person would."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Operator name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/fleet.*"))
