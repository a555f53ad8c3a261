"""Every failure leaves the API as JSON {"error": {"code", "field", "message"}} with a 4xx, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.db.errors import describe as describe_db_error
from core.errors import Conflict, CrmError, InvalidInput, NotFound
from core.services.auth import Forbidden, Unauthenticated

log = logging.getLogger(__name__)


class RateLimited(CrmError):
    """Too many requests from one client (HTTP 429); `retry_after` in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many requests; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class ErrorDetail(BaseModel):
    code: str
    field: str | None
    message: str


class ErrorOut(BaseModel):
    """The body of every 4xx/5xx answer (documented in the OpenAPI spec of every operation)."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in (
        (401, "not signed in"), (403, "the role may not use this function, or a missing CSRF token"),
        (404, "not found, or outside the caller's scope"), (409, "conflicts with the current state"),
        (422, "invalid input; `field` names it"))
}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "field": field, "message": message, **extra}}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


def crm_error_response(exc: CrmError) -> JSONResponse:
    """The one mapping from domain errors to HTTP: callers and the page routes reuse it."""
    if isinstance(exc, Unauthenticated):
        return _json(401, error_body("unauthenticated", str(exc)), {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, Forbidden):
        return _json(403, error_body("forbidden", str(exc)))
    if isinstance(exc, NotFound):
        return _json(404, error_body("not_found", str(exc), exc.entity))
    if isinstance(exc, RateLimited):
        return _json(429, error_body("rate_limited", str(exc)), {"Retry-After": str(max(1, round(exc.retry_after)))})
    if isinstance(exc, InvalidInput):
        extra: dict[str, Any] = {}
        rows = getattr(exc, "errors", None)
        if rows:
            extra["rows"] = [getattr(r, "__dict__", str(r)) for r in rows][:50]
        return _json(422, error_body("invalid_input", exc.message, exc.field, **_jsonable(extra)))
    if isinstance(exc, Conflict):
        return _json(409, error_body("conflict", str(exc), exc.field))
    return _json(400, error_body("bad_request", str(exc)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie", "form")]
    return ".".join(parts) or (str(loc[0]) if loc else "request")


def install(app: FastAPI) -> None:
    """Register the handlers; the catch-all answers 500 with no detail (the log has the trace)."""

    @app.exception_handler(CrmError)
    async def _crm(_: Request, exc: CrmError) -> JSONResponse:
        return crm_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("request",), "msg": "invalid request"}
        details = [{"field": _field_of(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
                   for e in errors[:20]]
        return _json(422, error_body("invalid_input", str(first.get("msg", "invalid")),
                                     _field_of(tuple(first.get("loc", ()))), details=details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                 409: "conflict", 413: "too_large", 415: "unsupported_media_type", 429: "rate_limited"}
        return _json(exc.status_code, error_body(codes.get(exc.status_code, f"http_{exc.status_code}"),
                                                 str(exc.detail)), getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        diag = getattr(exc.orig, "diag", None)
        return _json(409, error_body("conflict", describe_db_error(exc), getattr(diag, "column_name", None)))

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        return _json(422, error_body("invalid_input", describe_db_error(exc)))

    @app.exception_handler(OperationalError)
    async def _down(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return _json(503, error_body("unavailable", "the database is unavailable"))

    @app.exception_handler(DBAPIError)
    async def _db(_: Request, exc: DBAPIError) -> JSONResponse:
        log.exception("database error")
        return _json(500, error_body("internal", "internal error"))

    @app.exception_handler(Exception)
    async def _any(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _json(500, error_body("internal", "internal error"))
