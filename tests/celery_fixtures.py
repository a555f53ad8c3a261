"""Fixtures for the Celery tests (load with `pytest_plugins = ("tests.celery_fixtures",)`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from core.config import get_settings
from tests.celery_support import REDIS_TEST_URL, SAMPLE_MODULES


@pytest.fixture
def sample_agents(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry loads tests/sample_agents.py (sample_scorer listens to lead.created and activity.logged)."""
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", SAMPLE_MODULES)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def redis_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty Redis database of our own, also set as the broker for everything started from this test."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    monkeypatch.setenv("SALESAGENTS_BROKER_URL", REDIS_TEST_URL)
    get_settings.cache_clear()
    try:
        yield REDIS_TEST_URL
    finally:
        client.flushdb()
        client.close()
        get_settings.cache_clear()
