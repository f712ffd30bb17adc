"""RFC 9457 problem details: every error leaves the API as application/problem+json."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridpilot import observability

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


class DomainError(Exception):
    """A refusal that maps to one HTTP status; subclasses set status and title."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: Sequence[dict[str, Any]] = (), **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.extensions = extensions


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: Iterable[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response; `errors` lists each violation with its pointer or parameter."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    error_list = list(errors)
    if error_list:
        body["errors"] = error_list
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def pydantic_errors_to_problem_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Translate FastAPI/Pydantic error locations to JSON pointers (body) or parameter names."""
    out: list[dict[str, Any]] = []
    for err in errors:
        loc = list(err.get("loc", ()))
        where = loc[0] if loc else "body"
        rest = loc[1:] if where in ("body", "query", "path", "header", "cookie") else loc
        item: dict[str, Any] = {"detail": err.get("msg", "invalid"), "code": err.get("type", "invalid")}
        if where in ("query", "path", "header", "cookie"):
            item["parameter"] = f"{where}:{'.'.join(str(p) for p in rest)}"
        else:
            item["pointer"] = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in rest)
        out.append(item)
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error path answer with problem+json, never a stack trace."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, exc.title, exc.detail, errors=exc.errors, headers=headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = pydantic_errors_to_problem_errors(exc.errors())
        return problem_response(422, "Invalid request", f"{len(errors)} validation error(s)", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}.get(
            exc.status_code, "Error"
        )
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, title, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "Internal server error", "the error was logged with this request's id")

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if not exc.connection_invalidated:
            return await _unexpected(request, exc)
        observability.DATABASE_ERRORS.labels("request").inc()
        log.warning("database connection lost; the pool reconnects", exc_info=exc)
        return problem_response(
            503, "Database unavailable", "the database connection was lost; retry", headers={"Retry-After": "1"}
        )
