"""What every benchmark shares: a throwaway migrated database, dropped afterwards whatever happens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL, Engine

from core.db.throwaway import throwaway_database as _throwaway


@contextmanager
def throwaway_database(label: str) -> Iterator[tuple[URL, Engine]]:
    with _throwaway(f"bench_{label}") as pair:
        yield pair
