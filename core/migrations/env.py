"""Alembic environment: the URL comes from the caller (core.db.migrate) or from the service settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import core.models  # noqa: F401  (registers every table on the metadata)
from core.models.base import Base

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from core.config import get_settings
    from core.db.engine import resolve_url

    return resolve_url(get_settings()).render_as_string(hide_password=False)


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """LangGraph's checkpoint tables are created by its own setup(), not by our migrations."""
    return not (type_ == "table" and name and name.startswith("checkpoint"))


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=Base.metadata, include_object=include_object,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, include_object=include_object,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
