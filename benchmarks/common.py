"""What every benchmark shares: a throwaway migrated database, dropped afterwards whatever happens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL, Engine

from core.config import get_settings
from core.db.engine import ensure_database, make_engine, resolve_url
from core.db.migrate import upgrade


def drop(url: URL) -> None:
    admin = make_engine(url.set(database="postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def throwaway_database(label: str) -> Iterator[tuple[URL, Engine]]:
    settings = get_settings()
    url = resolve_url(settings, database=f"{settings.database_name}_bench_{label}_{uuid.uuid4().hex[:6]}")
    ensure_database(url)
    engine = make_engine(url)
    try:
        upgrade(url)
        yield url, engine
    finally:
        engine.dispose()
        drop(url)
