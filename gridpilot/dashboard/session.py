"""Who is looking at the dashboard: a signed session cookie, a CSRF token, viewer and admin checks.

The session cookie (Starlette's SessionMiddleware, signed with the server's secret key)
holds the operator's id and a random CSRF token. Every form and every htmx request sends
the token back (a hidden field, or the X-CSRF-Token header); a write without it is refused.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from gridpilot.auth import service as auth_service
from gridpilot.auth.schemas import Actor, Role
from gridpilot.dependencies import SessionDep

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """The page needs a logged-in operator; the handler sends the browser to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class DashboardForbidden(Exception):
    """The operator may not do this (a viewer attempting a write, or a missing CSRF token)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def csrf_token(connection: HTTPConnection) -> str:
    """The session's CSRF token, created on first use."""
    token = connection.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        connection.session["csrf"] = token
    return str(token)


def login_path(next_path: str) -> str:
    """The login page, returning to `next_path` afterwards."""
    return f"/login?next={quote(next_path, safe='/')}"


def safe_next(next_path: str | None) -> str:
    """Where to go after login: a path on this site only (never another host)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        return "/"
    return next_path


def log_in(connection: HTTPConnection, actor: Actor) -> None:
    """Start a fresh session for the operator (a new CSRF token too: no session fixation)."""
    connection.session.clear()
    connection.session["operator_id"] = int(actor.id)
    connection.session["csrf"] = secrets.token_urlsafe(32)


async def session_operator(connection: HTTPConnection, session: SessionDep) -> Actor | None:
    """The enabled operator of this session, or None."""
    operator_id = connection.session.get("operator_id")
    if not isinstance(operator_id, int):
        return None
    actor = await auth_service.authenticate_operator_id(session=session, operator_id=operator_id)
    if actor is None:
        connection.session.clear()
    return actor


async def current_viewer(request: Request, session: SessionDep) -> Actor:
    """Any logged-in operator; otherwise the browser is sent to the login page."""
    actor = await session_operator(request, session)
    if actor is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else "/")
    return actor


Viewer = Annotated[Actor, Depends(current_viewer)]


async def verified_csrf(request: Request) -> None:
    """Refuse a write whose CSRF token (header or form field) is not the session's."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = request.session.get("csrf")
    if not sent or not expected or not secrets.compare_digest(str(sent), str(expected)):
        raise DashboardForbidden("the form has expired or did not come from this site; reload the page and try again")


async def current_admin(request: Request, viewer: Viewer) -> Actor:
    """A logged-in admin sending a valid CSRF token: what every dashboard write needs."""
    await verified_csrf(request)
    if viewer.role is not Role.ADMIN:
        raise DashboardForbidden(f"operator {viewer.name!r} is a viewer; this needs an admin")
    return viewer


Admin = Annotated[Actor, Depends(current_admin)]
