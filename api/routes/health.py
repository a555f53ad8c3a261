"""Liveness (/healthz: the process answers), readiness (/readyz: database and broker answer), /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_db(session: Session) -> str | None:
    try:
        session.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # readiness reports any failure, it never raises
        session.rollback()
        return type(exc).__name__


def _check_broker(request: Request) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(request.app.state.settings.broker_url, socket_timeout=1.0,
                                      socket_connect_timeout=1.0)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:  # readiness reports any failure, it never raises
        return type(exc).__name__


@router.get("/readyz", responses={503: {"description": "a dependency is down"}})
def readyz(request: Request, session: SessionDep) -> Response:
    """200 when the database and the Celery broker both answer; 503 naming the one that does not."""
    checks: dict[str, Any] = {"database": _check_db(session), "broker": _check_broker(request)}
    ok = all(v is None for v in checks.values())
    body = {"status": "ready" if ok else "unavailable",
            "checks": {k: "ok" if v is None else f"error: {v}" for k, v in checks.items()}}
    return JSONResponse(status_code=200 if ok else 503, content=body)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return request.app.state.metrics.render()  # type: ignore[no-any-return]
