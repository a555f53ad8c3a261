"""Short-lived databases for work that must commit (benchmarks, tests of code that owns its transactions)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL, Engine

from core.config import get_settings
from core.db.engine import ensure_database, make_engine, resolve_url
from core.db.migrate import upgrade


def drop_database(url: URL) -> None:
    admin = make_engine(url.set(database="postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def throwaway_database(label: str, prepare: Callable[[URL], None] | None = None) -> Iterator[tuple[URL, Engine]]:
    """A fresh migrated database named after `label`, dropped afterwards whatever happens."""
    settings = get_settings()
    url = resolve_url(settings, database=f"{settings.database_name}_{label}_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    engine = make_engine(url)
    try:
        upgrade(url)
        if prepare is not None:
            prepare(url)
        yield url, engine
    finally:
        engine.dispose()
        drop_database(url)
