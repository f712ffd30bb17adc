"""The dashboard's routes, and how its refusals reach a browser (a page or a redirect, not problem+json)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from gridpilot.dashboard import device_pages, fleet_pages, live, login, market_pages, schedule_pages
from gridpilot.dashboard.session import DashboardForbidden, LoginRequired, login_path
from gridpilot.dashboard.templating import templates

router = APIRouter(include_in_schema=False)
for module in (login, fleet_pages, device_pages, schedule_pages, market_pages, live):
    router.include_router(module.router)


@router.get("/")
async def home() -> Response:
    """The fleet overview is the dashboard's front page."""
    return RedirectResponse("/fleet", status_code=303)


def install_dashboard_handlers(app: FastAPI) -> None:
    """Send a logged-out browser to the login page; show a refusal as a page."""

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        if request.headers.get("HX-Request"):  # an htmx fragment: make the whole page go to the login
            return Response(status_code=401, headers={"HX-Redirect": login_path(exc.next_path)})
        return RedirectResponse(login_path(exc.next_path), status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DashboardForbidden)
        return templates.TemplateResponse(request, "forbidden.html", {"detail": exc.detail}, status_code=403)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(DashboardForbidden, forbidden)
