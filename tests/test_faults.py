"""Fault tests: the model server, the database and Redis fail mid-run; nothing is lost, nothing is done twice.

Each failure is real: a model server on a loopback socket that is stopped (connections refused), stalls past the
client timeout or answers garbage; `pg_terminate_backend` on a worker's connections; a private `redis-server`
killed and restarted without persistence (every queued message gone). Every test ends by checking the books:
each event or subject has exactly one run that finished, one set of outputs, and a failed run is retried to
success. Worker SIGKILL is covered by tests/test_worker.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL

from agents.celery_app import create_app
from agents.dispatcher import dispatch_once
from agents.enqueue import celery_enqueue
from agents.runtime.executor import execute_run
from agents.runtime.runs import create_run
from agents.sweeper import sweep
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.models import AgentRun, AgentScore, Draft, LlmCall, OutboxEvent, Suggestion
from evals.quote_followup.scenarios import Scenario, build, pipelines
from tests import factories
from tests.celery_support import SAMPLE_MODULES, BrokerSpace, WorkerProcess, settings_with, wait_for
from tests.fault_support import ModelServer, RedisServer, completion, garbage, stall
from tests.lead_scoring_data import make_leads
from tools.lead_scoring import training

pytest_plugins = ("tests.celery_fixtures",)

LEAD_SCORER = "lead_scorer"

NUDGE = ("Hi Dana2, did you have a chance to review our quote? I am happy to answer any questions you have. "
         "Rep 2")
EXPLANATION = "This lead scores well because the company is large and the contact has a clear title."


# --- the model server ------------------------------------------------------------------------------------------


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    server = ModelServer(default=completion(EXPLANATION))
    try:
        yield server
    finally:
        server.stop()


def _model_settings(server: ModelServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"llm_base_url": server.base_url, "llm_model": "fault-model", "llm_purposes": {},
                              "llm_budgets": {}, "llm_timeout_s": 2.0, "llm_max_attempts": 3}
    return settings_with(**(values | overrides))


def _writer_run() -> tuple[int, int]:
    """(run id, lead id) of a queued sample_writer run: one guarded generate_text call, written as a suggestion."""
    with session_scope() as session:
        lead = factories.lead(session, employees=900, title="Head of Operations", industry="Logistics")
        run = create_run(session, "sample_writer", "manual", "lead", lead.id)
        assert run is not None
        return run.id, lead.id


def _rerun(lead_id: int) -> int:
    with session_scope() as session:
        run = create_run(session, "sample_writer", "manual", "lead", lead_id)
        assert run is not None
        return run.id


def _suggestions(lead_id: int) -> list[Suggestion]:
    with session_scope() as session:
        return list(session.scalars(select(Suggestion).where(Suggestion.subject_id == lead_id,
                                                             Suggestion.agent == "sample_writer")))


def _calls(run_id: int) -> list[LlmCall]:
    with session_scope() as session:
        return list(session.scalars(select(LlmCall).where(LlmCall.run_id == run_id).order_by(LlmCall.id)))


class _OnRetry(logging.Handler):
    """Runs an action when the retry layer logs its first failed attempt (the server is then provably down)."""

    def __init__(self, action: Any) -> None:
        super().__init__(logging.WARNING)
        self.action, self.fired = action, 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("model call attempt") and not self.fired:
            self.fired += 1
            self.action()


def test_the_model_server_down_then_back_is_bridged_by_retries(
        scratch_db: URL, sample_agents: None, model_server: ModelServer) -> None:
    run_id, lead_id = _writer_run()
    handler = _OnRetry(model_server.start)  # the server is down for the first attempt and back for the next
    retry_log = logging.getLogger("core.llm.retry")
    # Earlier tests (Celery's worker, for one) may have raised the root level: this logger speaks up regardless.
    level, disabled, muted = retry_log.level, retry_log.disabled, logging.root.manager.disable
    retry_log.setLevel(logging.WARNING)
    retry_log.disabled = False
    logging.disable(logging.NOTSET)
    retry_log.addHandler(handler)
    try:
        outcome = execute_run(run_id, settings=_model_settings(model_server))
    finally:
        retry_log.removeHandler(handler)
        retry_log.setLevel(level)
        retry_log.disabled = disabled
        logging.disable(muted)
    assert handler.fired == 1 and outcome.status == "succeeded", outcome.error
    (suggestion,) = _suggestions(lead_id)
    assert (suggestion.body, suggestion.fallback) == (EXPLANATION, False)
    (call,) = _calls(run_id)
    assert (call.outcome, call.attempts) == ("ok", 2)  # refused once, answered on the retry
    assert len(model_server.requests) == 1

    again = execute_run(_rerun(lead_id), settings=_model_settings(model_server))
    assert again.status == "skipped" and len(model_server.requests) == 1  # unchanged lead: no call, no output
    assert len(_suggestions(lead_id)) == 1


def test_a_model_server_down_for_the_whole_run_gives_a_marked_fallback_and_no_duplicate(
        scratch_db: URL, sample_agents: None, model_server: ModelServer) -> None:
    run_id, lead_id = _writer_run()
    outcome = execute_run(run_id, settings=_model_settings(model_server))  # never started: connection refused
    assert outcome.status == "succeeded", outcome.error
    (suggestion,) = _suggestions(lead_id)
    assert suggestion.fallback is True and suggestion.body  # the template reply, flagged for the reviewer
    (call,) = _calls(run_id)
    assert call.outcome == "error" and call.attempts == 3 and "ConnectionError" in (call.error or "")

    model_server.start()  # the server is back: a redelivered message of the same run does not write again
    with session_scope() as session:
        assert session.get_one(AgentRun, run_id).status == "succeeded"
    redelivered = execute_run(run_id, settings=_model_settings(model_server))
    assert redelivered.claimed is False and model_server.requests == []
    assert len(_suggestions(lead_id)) == 1


def test_a_model_that_stalls_past_the_timeout_is_retried(
        scratch_db: URL, sample_agents: None, model_server: ModelServer) -> None:
    run_id, lead_id = _writer_run()
    model_server.script = [stall(3.0, completion("too late"))]  # the client gives up after 1 s
    model_server.start()
    outcome = execute_run(run_id, settings=_model_settings(model_server, llm_timeout_s=1.0))
    assert outcome.status == "succeeded", outcome.error
    (suggestion,) = _suggestions(lead_id)
    assert (suggestion.body, suggestion.fallback) == (EXPLANATION, False)
    (call,) = _calls(run_id)
    assert (call.outcome, call.attempts) == ("ok", 2)
    assert len(model_server.requests) == 2


def test_a_model_that_only_stalls_falls_back_naming_the_timeout(
        scratch_db: URL, sample_agents: None, model_server: ModelServer) -> None:
    run_id, lead_id = _writer_run()
    model_server.default = stall(3.0, completion("too late"))
    model_server.start()
    outcome = execute_run(run_id, settings=_model_settings(model_server, llm_timeout_s=0.5, llm_max_attempts=2))
    assert outcome.status == "succeeded", outcome.error
    (suggestion,) = _suggestions(lead_id)
    assert suggestion.fallback is True
    (call,) = _calls(run_id)
    assert call.outcome == "error" and call.attempts == 2 and "Timeout" in (call.error or "")


def test_a_garbage_response_gives_the_marked_template_and_a_later_run_writes_real_text(
        scratch_db: URL, sample_agents: None, model_server: ModelServer) -> None:
    run_id, lead_id = _writer_run()
    model_server.default = garbage()  # HTTP 200, but the body is not a chat completion (not even UTF-8)
    model_server.start()
    outcome = execute_run(run_id, settings=_model_settings(model_server))
    assert outcome.status == "succeeded", outcome.error
    (fallback,) = _suggestions(lead_id)  # nothing of the garbage was written: the template, marked
    assert fallback.fallback is True and fallback.run_id == run_id
    (call,) = _calls(run_id)
    assert call.outcome == "error" and "UnicodeDecodeError" in (call.error or "")  # the ledger says why


def test_garbled_text_from_the_model_is_repaired_once_then_replaced_by_the_template(
        scratch_db: URL, sample_agents: None, model_server: ModelServer) -> None:
    run_id, lead_id = _writer_run()
    model_server.script = [completion("ok"), completion(EXPLANATION)]  # too short, then a good repair
    model_server.start()
    assert execute_run(run_id, settings=_model_settings(model_server)).status == "succeeded"
    (suggestion,) = _suggestions(lead_id)
    assert (suggestion.body, suggestion.fallback) == (EXPLANATION, False)
    assert _calls(run_id)[0].outcome == "repaired" and len(model_server.requests) == 2

    second_run, second_lead = _writer_run()
    model_server.script = [completion("x"), completion("")]  # garbled twice: the template, never the garble
    assert execute_run(second_run, settings=_model_settings(model_server)).status == "succeeded"
    (fallback,) = _suggestions(second_lead)
    assert fallback.fallback is True and fallback.body not in ("x", "")
    assert _calls(second_run)[0].outcome == "fallback"



def test_a_drafting_agent_through_a_model_outage_drafts_a_flagged_template_then_real_text_after_recovery(
        scratch_db: URL, model_server: ModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Quote Follow-up: both nudges reach the rep's review once each; the outage's is marked fallback."""
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", '["agents.quote_followup"]')
    get_settings.cache_clear()
    now = datetime.now(UTC)
    with session_scope() as session:
        ids = pipelines(session)
        during = build(session, Scenario("outage", "nudge", "w1", sent_days_ago=6), now, ids, 1).quote_id
        after = build(session, Scenario("recovered", "nudge", "w1", sent_days_ago=6), now, ids, 2).quote_id
        runs = [create_run(session, "quote_followup", "manual", "quote", q) for q in (during, after)]
        run_ids = [run.id for run in runs if run is not None]
    settings = _model_settings(model_server)
    first = execute_run(run_ids[0], settings=settings)  # the model server is down for this whole run
    model_server.default = completion(NUDGE)
    model_server.start()
    second = execute_run(run_ids[1], settings=settings)
    assert (first.status, second.status) == ("waiting_review", "waiting_review"), (first.error, second.error)
    with session_scope() as session:
        drafts = {d.subject_id: d for d in session.scalars(select(Draft).where(Draft.agent == "quote_followup"))}
        assert sorted(drafts) == sorted((during, after))  # one draft per quote, nothing lost, nothing twice
        assert drafts[during].fallback is True and drafts[during].status == "pending_review"
        assert (drafts[after].body, drafts[after].fallback) == (NUDGE, False)
        outcomes = [c.outcome for c in session.scalars(select(LlmCall).order_by(LlmCall.id))]
    assert outcomes == ["error", "ok"] and len(model_server.requests) == 1

# --- the database connection -----------------------------------------------------------------------------------


def _slow_worker_env(slow_s: float) -> dict[str, str]:
    return {"SALESAGENTS_AGENT_MODULES": SAMPLE_MODULES, "SALESAGENTS_SAMPLE_SLOW_SECONDS": str(slow_s)}


def _run(run_id: int) -> AgentRun:
    with session_scope() as session:
        return session.get_one(AgentRun, run_id)


def _lead_scores(lead_id: int, agent: str) -> list[AgentScore]:
    with session_scope() as session:
        return list(session.scalars(select(AgentScore).where(AgentScore.subject_id == lead_id,
                                                             AgentScore.agent == agent)))


def _terminate_backends(url: URL) -> int:
    """pg_terminate_backend on every connection to the test database but this one: the worker's pool and its
    checkpointer lose their sockets mid-run, as on a database failover or a restarted PgBouncer."""
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": url.database}).scalar_one())
    finally:
        admin.dispose()


def _in_slow_node(run_id: int) -> bool:
    run = _run(run_id)
    if run.status not in ("queued", "running"):
        pytest.fail(f"run {run_id} ended {run.status} before the connections were dropped: {run.error}")
    return run.status == "running" and run.heartbeat_at is not None and run.started_at is not None \
        and run.heartbeat_at > run.started_at


def test_database_connections_dropped_mid_run_are_retried_from_the_checkpoint(
        scratch_db: URL, sample_agents: None, broker: BrokerSpace, tmp_path: Path) -> None:
    with session_scope() as session:
        lead_id = factories.lead(session).id
        run = create_run(session, "sample_slow", "manual", "lead", lead_id)
        assert run is not None
        run_id = run.id
    app = create_app(get_settings())
    celery_enqueue(app)(run_id)
    env = _slow_worker_env(slow_s=4.0) | {"SALESAGENTS_RUN_RETRY_DELAY_S": "1"}
    worker = WorkerProcess("dbdrop", env, tmp_path / "dbdrop.log")
    try:
        worker.wait_ready()
        wait_for(lambda: _in_slow_node(run_id), 30, "the worker to be inside the slow node")
        assert _terminate_backends(scratch_db) >= 2  # the worker's pooled connection and its checkpointer's
        # nobody re-sends anything: the worker puts the run back and sends itself a delayed message; its pool
        # reconnects (pre-ping), the new try opens a new checkpointer and continues from the last step
        done = wait_for(lambda: _run(run_id).status in ("succeeded", "failed") and _run(run_id), 60,
                        "the run to be retried and settle")
    finally:
        worker.stop()
        print(worker.log()[-4000:])  # shown when the test fails
    assert (done.status, done.attempts, done.error) == ("succeeded", 2, None)
    assert len(_lead_scores(lead_id, "sample_slow")) == 1  # keyed by input: written once


# --- Redis ------------------------------------------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A private redis-server for this test: killing it disturbs nobody else."""
    server = RedisServer(tmp_path)
    server.start()
    monkeypatch.setenv("SALESAGENTS_BROKER_URL", server.url)
    monkeypatch.setenv("SALESAGENTS_BROKER_KEY_PREFIX", "")
    monkeypatch.setenv("SALESAGENTS_RUN_STUCK_AFTER_S", "3")  # the sweeper re-sends runs queued longer than 3 s
    get_settings.cache_clear()
    try:
        yield server
    finally:
        server.kill()
        get_settings.cache_clear()


def _new_leads(count: int) -> list[int]:
    with session_scope() as session:
        return [factories.lead(session, employees=100 * (i + 1)).id for i in range(count)]


def _scorer_books() -> tuple[dict[int, list[str]], dict[int, int], int]:
    """(run statuses per lead, scores per lead, lead.created events not yet dispatched) for the Lead Scorer."""
    with session_scope() as session:
        runs: dict[int, list[str]] = {}
        for run in session.scalars(select(AgentRun).where(AgentRun.agent == LEAD_SCORER)):
            runs.setdefault(int(run.subject_id or 0), []).append(run.status)
        scores = {int(subject or 0): int(count) for subject, count in session.execute(
            select(AgentScore.subject_id, func.count()).where(AgentScore.agent == LEAD_SCORER)
            .group_by(AgentScore.subject_id))}
        pending = session.scalar(select(func.count()).select_from(OutboxEvent)
                                 .where(OutboxEvent.topic == "lead.created",
                                        OutboxEvent.dispatched_at.is_(None))) or 0
    return runs, scores, int(pending)


def _sweep_until_done(app: Celery, leads: list[int], timeout_s: float) -> list[int]:
    """What beat's sweeper does, once a second: re-send runs whose message was lost. Returns the re-sent ids."""
    resent: list[int] = []

    def settled() -> bool:
        runs, _, _ = _scorer_books()
        if all(runs.get(lead) and all(s not in ("queued", "running") for s in runs[lead]) for lead in leads):
            return True
        resent.extend(sweep(celery_enqueue(app)).requeued)
        return False

    wait_for(settled, timeout_s, "every run to finish after the Redis restart", interval_s=1.0)
    return resent


def test_a_redis_restart_mid_stream_loses_no_event_and_duplicates_none(
        scratch_db: URL, own_redis: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Lead Scorer on lead.created events; Redis dies with messages queued and comes back empty."""
    modules = f'["agents.{LEAD_SCORER}"]'
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", modules)
    get_settings.cache_clear()
    with session_scope() as session:
        make_leads(session, 80, seed=11)  # closed history (no events), and the first scoring model from it
        training.train_and_store(session, datetime.now(UTC))
    env = {"SALESAGENTS_AGENT_MODULES": modules, "SALESAGENTS_BROKER_URL": own_redis.url,
           "SALESAGENTS_BROKER_KEY_PREFIX": "", "SALESAGENTS_RUN_STUCK_AFTER_S": "3"}
    worker = WorkerProcess("redis", env, tmp_path / "redis-worker.log")
    app = create_app(get_settings())
    try:
        worker.wait_ready()
        first = _new_leads(15)
        before = dispatch_once(celery_enqueue(app))
        assert (before.events, before.enqueued, before.enqueue_error) == (15, 15, None)
        own_redis.kill()  # mid-stream: most of those 15 messages were still in the queue, now gone

        second = _new_leads(10)  # events keep arriving while Redis is down
        during = dispatch_once(celery_enqueue(app))
        assert during.events == 10 and len(during.run_ids) == 10 and during.enqueued == 0
        assert during.enqueue_error and "broker unreachable" in during.enqueue_error

        own_redis.start()  # back, empty: every message it held is lost
        third = _new_leads(5)
        after = dispatch_once(celery_enqueue(app))
        assert len(after.run_ids) == after.enqueued == 5
        resent = _sweep_until_done(app, first + second + third, timeout_s=90)
    finally:
        worker.stop()
        print(worker.log()[-4000:])  # shown when the test fails
    runs, scores, pending = _scorer_books()
    leads = first + second + third
    assert pending == 0  # every event was dispatched
    assert sorted(runs) == sorted(leads) and all(runs[lead] == ["succeeded"] for lead in leads)  # one run each
    assert all(scores.get(lead) == 1 for lead in leads)  # one output each: nothing lost, nothing twice
    assert set(during.run_ids) <= set(resent)  # the runs queued during the outage reached the worker via the sweeper
