"""Log in and out of the dashboard with an operator's name and password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridpilot.auth import service as auth_service
from gridpilot.dashboard.session import log_in, safe_next, session_operator, verified_csrf
from gridpilot.dashboard.templating import templates
from gridpilot.dependencies import SessionDep

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, session: SessionDep, next: str = "/") -> Response:
    """The login form (or straight on, for an operator already logged in)."""
    if await session_operator(request, session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return templates.TemplateResponse(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(verified_csrf)])
async def log_in_with_password(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; on success a fresh session, else the form again with the reason."""
    actor = await auth_service.authenticate_password(session=session, name=username, password=password)
    if actor is None:
        context = {"next": safe_next(next), "error": "Wrong name or password.", "username": username}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    log_in(request, actor)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(verified_csrf)])
async def log_out(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
