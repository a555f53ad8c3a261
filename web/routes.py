"""Mounting the pages: their routers (hidden from the OpenAPI spec) and the vendored static files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from web.common import HERE, install_error_pages


def all_page_routers() -> list[APIRouter]:
    """The page routers, imported when the app is built (not when this package is imported)."""
    from web.pages import account360, admin, admin_pipelines, auth, campaigns, orders, sales, segments, success

    return [auth.router, sales.router, success.router, account360.router, segments.router, campaigns.router,
            orders.router, admin.router, admin_pipelines.router]


def install(app: Any) -> None:
    """Called once by api.app.create_app: page routes, HTML error pages for /app paths, and /static."""
    from fastapi.staticfiles import StaticFiles

    for router in all_page_routers():
        app.include_router(router)
    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
