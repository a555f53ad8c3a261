"""Routers of the REST API, one module per area; api.app.create_app mounts them all."""

from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    """The API routers, imported when the app is built (not when this package is imported)."""
    from api.routes import (
        accounts,
        admin,
        agents,
        approvals,
        campaigns,
        custom_fields,
        deals,
        engagement,
        leads,
        orders,
        pipelines,
        segments,
        success,
    )

    return [accounts.router, leads.router, leads.public, pipelines.router, deals.router, orders.router,
            engagement.router, success.router, agents.router, approvals.router, segments.router, campaigns.router,
            admin.router, admin.imports, custom_fields.router]
