"""LangGraph's PostgresSaver on the service database: set up once by `db migrate`, opened per run.

Its tables live beside ours but are created by its own migrations (outside Alembic). setup() uses
CREATE INDEX CONCURRENTLY, so it runs on an autocommit connection, under an advisory lock against racing
processes, and never inside a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from psycopg import Connection
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from core.config import get_settings
from core.db.engine import resolve_url

SETUP_LOCK = 7_326_552  # pg_advisory_lock key, next to core.db.migrate's MIGRATION_LOCK


def conninfo(url: URL) -> str:
    """A libpq connection string for a SQLAlchemy URL (socket dirs and other query options carried over)."""
    params: dict[str, str | int] = {}
    if url.host:
        params["host"] = url.host
    if url.port:
        params["port"] = url.port
    if url.username:
        params["user"] = url.username
    if url.password:
        params["password"] = str(url.password)
    if url.database:
        params["dbname"] = url.database
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return make_conninfo("", **params)


def _connect(url: URL) -> Connection[dict[str, Any]]:
    return Connection.connect(conninfo(url), autocommit=True, prepare_threshold=0, row_factory=dict_row)


def setup_checkpointer(url: URL) -> None:
    """Create or upgrade the checkpoint tables (idempotent; concurrent callers queue on an advisory lock)."""
    with _connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        try:
            PostgresSaver(conn).setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))


@contextmanager
def open_checkpointer(url: URL | None = None) -> Iterator[PostgresSaver]:
    """A saver on its own autocommit connection to the service database (or `url`), closed afterwards."""
    with _connect(url or resolve_url(get_settings())) as conn:
        yield PostgresSaver(conn)
