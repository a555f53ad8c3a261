"""Fixtures for the Celery tests (load with `pytest_plugins = ("tests.celery_fixtures",)`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from core.config import get_settings
from tests.celery_support import REDIS_TEST_URL, SAMPLE_MODULES, BrokerSpace


@pytest.fixture
def sample_agents(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry loads tests/sample_agents.py (sample_scorer listens to lead.created and activity.logged)."""
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", SAMPLE_MODULES)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[BrokerSpace]:
    """The broker for everything started from this test (in-process apps and worker subprocesses)."""
    broker = BrokerSpace(REDIS_TEST_URL, f"test-{uuid.uuid4().hex[:12]}:")
    monkeypatch.setenv("SALESAGENTS_BROKER_URL", broker.url)
    monkeypatch.setenv("SALESAGENTS_BROKER_KEY_PREFIX", broker.prefix)
    get_settings.cache_clear()
    client = redis.Redis.from_url(broker.url)
    try:
        yield broker
    finally:
        keys = list(client.scan_iter(match=f"{broker.prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
        get_settings.cache_clear()
