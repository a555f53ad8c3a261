"""`salesagents dispatch`, `worker` and `beat`: inline without Redis, queued with it, clear errors otherwise."""

from __future__ import annotations

import pytest
import redis
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from agents.celery_app import QUEUE
from api.cli import worker as worker_cli
from core.config import get_settings
from core.db.engine import session_scope
from core.errors import InvalidInput
from core.models import AgentRun
from tests import factories
from tests.celery_support import BrokerSpace

pytest_plugins = ("tests.celery_fixtures",)

DEAD_BROKER = "redis://127.0.0.1:1/0"


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("dispatch")(worker_cli.dispatch)
    app.command("worker")(worker_cli.worker)
    app.command("beat")(worker_cli.beat)
    return app


def _dead_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESAGENTS_BROKER_URL", DEAD_BROKER)
    get_settings.cache_clear()


def test_dispatch_once_runs_agents_inline_when_redis_is_unreachable(
        scratch_db: object, sample_agents: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _dead_broker(monkeypatch)
    with session_scope() as session:
        lead_id = factories.lead(session).id
    result = CliRunner().invoke(_cli(), ["dispatch", "--once"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Redis at redis://127.0.0.1:1/0 is unreachable: running agents inline" in result.output
    assert "1 event(s) -> 1 new run(s)" in result.output and "succeeded" in result.output
    with session_scope() as session:
        (run,) = session.scalars(select(AgentRun)).all()
        assert (run.subject_id, run.status) == (lead_id, "succeeded")


def test_dispatch_once_queues_runs_when_redis_answers(scratch_db: object, sample_agents: None,
                                                      broker: BrokerSpace) -> None:
    with session_scope() as session:
        factories.lead(session)
        factories.lead(session)
    result = CliRunner().invoke(_cli(), ["dispatch", "--once"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "queued on redis://127.0.0.1:6379/13" in result.output
    assert "2 event(s) -> 2 new run(s), 0 folded into existing runs, 2 enqueued" in result.output
    assert redis.Redis.from_url(broker.url).llen(broker.key(QUEUE)) == 2
    with session_scope() as session:
        assert {r.status for r in session.scalars(select(AgentRun))} == {"queued"}


def test_worker_and_beat_name_what_is_wrong(sample_agents: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _dead_broker(monkeypatch)
    result = CliRunner().invoke(_cli(), ["worker"])
    assert isinstance(result.exception, InvalidInput) and result.exception.field == "broker_url"
    assert "unreachable" in str(result.exception)
    result = CliRunner().invoke(_cli(), ["worker", "--pool", "gevent"])
    assert isinstance(result.exception, InvalidInput) and result.exception.field == "--pool"

    monkeypatch.setenv("SALESAGENTS_AGENT_SCHEDULES", '{"sample_scorer": "0 7 * * *"}')
    get_settings.cache_clear()
    result = CliRunner().invoke(_cli(), ["beat"], terminal_width=200)
    assert "agent:sample_scorer" in result.output and "dispatch_outbox" in result.output  # the schedule table
    assert isinstance(result.exception, InvalidInput) and result.exception.field == "broker_url"

    monkeypatch.setenv("SALESAGENTS_AGENT_SCHEDULES", '{"sample_scorer": "0 7 * *"}')
    get_settings.cache_clear()
    result = CliRunner().invoke(_cli(), ["beat"])
    assert isinstance(result.exception, InvalidInput)
    assert result.exception.field == "agent_schedules[sample_scorer]"
