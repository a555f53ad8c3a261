"""The FastAPI application factory: `uvicorn --factory api.app:create_app` (nothing happens at import time)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api import errors, metrics
from api.deps import Database
from api.ratelimit import limiter
from core.config import Settings, get_settings

LOGIN_ATTEMPTS_PER_MINUTE = 10
LOGIN_BURST = 10
DESCRIPTION = """REST API of the salesagents CRM and its agents.

Authenticate with `Authorization: Bearer <API key>` (create one with `POST /auth/api-keys` or
`salesagents users api-key`), or with the session cookie set by `POST /auth/login` (cookie writes need the
`X-CSRF-Token` header). Errors are JSON: `{"error": {"code", "field", "message"}}`.
Objects outside your role's scope answer 404; functions your role may not use answer 403.
"""


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app; the database engine is made on first use (or the given one is used, e.g. by tests)."""
    from api import auth
    from api.routes import all_routers, health

    settings = settings or get_settings()
    app = FastAPI(title="salesagents API", version="0.1.0", description=DESCRIPTION)
    app.state.settings = settings
    app.state.db = Database(settings, engine)
    app.state.metrics = metrics.Metrics()
    app.state.eval_jobs = {}
    app.state.eval_threads = {}
    shared, prefix = settings.rate_limit_shared, settings.broker_key_prefix
    app.state.login_limiter = limiter(settings.broker_url, "login", LOGIN_ATTEMPTS_PER_MINUTE / 60.0, LOGIN_BURST,
                                      shared=shared, prefix=prefix)
    app.state.lead_capture_limiter = limiter(settings.broker_url, "public_leads",
                                             settings.public_leads_per_minute / 60.0, settings.public_leads_burst,
                                             shared=shared, prefix=prefix)
    errors.install(app)
    metrics.install(app, app.state.metrics)
    app.include_router(health.router)
    app.include_router(auth.router, responses=errors.ERROR_RESPONSES)
    for router in all_routers():
        app.include_router(router, responses=errors.ERROR_RESPONSES)
    from web.routes import install as install_pages  # the server-rendered pages under /app and /static

    install_pages(app)
    return app
