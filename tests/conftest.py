"""Test fixtures: a real PostgreSQL (embedded, or DATABASE_URL's server), one rolled-back transaction per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

from agents import registry
from agents.registry import AgentSpec
from agents.runtime.checkpoint import setup_checkpointer
from core.config import get_settings
from core.db.engine import ensure_database, make_engine, resolve_url
from core.db.migrate import upgrade
from core.db.throwaway import drop_database, throwaway_database

pytest_plugins = ("tests.llm_fixtures",)


def registered(specs: Iterable[AgentSpec]) -> Iterator[None]:
    """For module fixtures: the given agents are registered while the module runs, and only then."""
    specs = list(specs)
    for spec in specs:
        registry.register(spec)
    yield
    for spec in specs:
        registry.unregister(spec.name)


def committing_engine(label: str) -> Iterator[Engine]:
    """For module fixtures whose code commits and must be seen by other processes: a database of its own."""
    with throwaway_database(label, prepare=setup_checkpointer) as (_url, engine):
        yield engine


@pytest.fixture(scope="session")
def db_url() -> URL:
    settings = get_settings()
    url = resolve_url(settings, database=f"{settings.database_name}_test")
    ensure_database(url)
    upgrade(url)
    setup_checkpointer(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: URL) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """The test owns the outer transaction; code under test may commit savepoints, all is rolled back."""
    conn = engine.connect()
    outer = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def scratch_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[URL]:
    """A fresh migrated database for code that commits on its own (CLI commands, subprocesses)."""
    settings = get_settings()
    name = f"{settings.database_name}_t_{uuid.uuid4().hex[:8]}"
    url = resolve_url(settings, database=name)
    ensure_database(url)
    upgrade(url)
    setup_checkpointer(url)
    monkeypatch.setenv("SALESAGENTS_DATABASE_NAME", name)
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    from core.db.engine import get_engine

    get_engine.cache_clear()
    try:
        yield url
    finally:
        get_engine.cache_clear()
        get_settings.cache_clear()
        drop_database(url)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = Path(os.environ.get("SALESAGENTS_DATASETS_DIR", get_settings().datasets_dir))
    if not path.is_dir():
        pytest.fail(f"data sets not found at {path}: set SALESAGENTS_DATASETS_DIR")
    return path
