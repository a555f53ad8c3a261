"""A run whose database connection drops is put back in the queue and continues from its checkpoint; other
errors, and a connection that keeps dropping past `run_attempts`, fail it with a message.

The worker-level proof (real `pg_terminate_backend` under a real Celery worker) is in tests/test_faults.py; these
tests pin the executor's decisions with an agent that raises the errors the driver raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypedDict

import psycopg
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.engine import Engine

from agents.registry import AgentSpec
from agents.runtime import runs
from agents.runtime.context import RunContext
from agents.runtime.executor import execute_run, execute_until_settled
from agents.runtime.transient import is_transient, retry_delay
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.models import AgentRun, AgentScore
from core.services import outputs
from tests import factories
from tests.conftest import committing_engine, registered
from tests.sample_agents import gather_lead_id

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# run id -> how many more times the second node loses its connection; and how often each node ran
DROPS: dict[int, int] = {}
CALLS: dict[tuple[int, str], int] = {}


class State(TypedDict, total=False):
    inputs: dict[str, Any]


def _lost_connection() -> sa_exc.OperationalError:
    """What SQLAlchemy raises when PostgreSQL cut the connection (failover, pg_terminate_backend)."""
    try:
        raise psycopg.OperationalError("terminating connection due to administrator command")
    except psycopg.OperationalError as driver:
        return sa_exc.OperationalError("SELECT 1", {}, driver)


def _build_flaky(checkpointer: Any) -> Any:
    def first(state: State, runtime: Runtime[RunContext]) -> State:
        ctx = runtime.context
        CALLS[ctx.run_id, "first"] = CALLS.get((ctx.run_id, "first"), 0) + 1
        with ctx.transaction() as session:
            outputs.write_score(session, ctx.origin, purpose="first", score=1)
        return {}

    def second(state: State, runtime: Runtime[RunContext]) -> State:
        ctx = runtime.context
        CALLS[ctx.run_id, "second"] = CALLS.get((ctx.run_id, "second"), 0) + 1
        if DROPS.get(ctx.run_id, 0) > 0:
            DROPS[ctx.run_id] -= 1
            raise _lost_connection()
        with ctx.transaction() as session:
            outputs.write_score(session, ctx.origin, purpose="second", score=2)
        return {}

    graph = StateGraph(State, context_schema=RunContext)
    graph.add_node("first", first)
    graph.add_node("second", second)
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    return graph.compile(checkpointer=checkpointer)


def _build_bug(checkpointer: Any) -> Any:
    def broken(state: State, runtime: Runtime[RunContext]) -> State:
        raise sa_exc.ProgrammingError("SELECT nope", {}, Exception('column "nope" does not exist'))

    graph = StateGraph(State, context_schema=RunContext)
    graph.add_node("broken", broken)
    graph.add_edge(START, "broken")
    graph.add_edge("broken", END)
    return graph.compile(checkpointer=checkpointer)


SPECS = (AgentSpec(name="t_flaky", subject_type="lead", build_graph=_build_flaky, gather=gather_lead_id),
         AgentSpec(name="t_sql_bug", subject_type="lead", build_graph=_build_bug, gather=gather_lead_id))


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("retry")


@pytest.fixture(scope="module", autouse=True)
def agents() -> Iterator[None]:
    yield from registered(SPECS)


def _settings(**changes: Any) -> Settings:
    return get_settings().model_copy(update={"run_retry_delay_s": 0.0} | changes)


def _new_run(engine: Engine, agent: str, drops: int = 0) -> tuple[int, int]:
    with session_scope(engine) as session:
        lead = factories.lead(session)
        run = runs.create_run(session, agent, "manual", "lead", lead.id)
        assert run is not None
        DROPS[run.id] = drops
        return run.id, lead.id


def _run(engine: Engine, run_id: int) -> AgentRun:
    with session_scope(engine) as session:
        return session.get_one(AgentRun, run_id)


def _scores(engine: Engine, lead_id: int) -> list[str]:
    with session_scope(engine) as session:
        return sorted(session.scalars(select(AgentScore.purpose).where(AgentScore.subject_id == lead_id)))


def test_a_lost_connection_requeues_the_run_and_the_next_try_continues_from_its_checkpoint(engine: Engine) -> None:
    run_id, lead_id = _new_run(engine, "t_flaky", drops=1)
    settings = _settings(run_retry_delay_s=7.0)
    first = execute_run(run_id, now=NOW, task_id="task-1", engine=engine, settings=settings)
    assert (first.status, first.retry_in_s) == ("queued", 7.0)
    queued = _run(engine, run_id)
    assert queued.status == "queued" and queued.task_id is None and queued.finished_at is None
    assert queued.error is not None and queued.error.startswith(
        "try 1 of 3 lost its database connection, retrying in 7 s: OperationalError")
    assert _scores(engine, lead_id) == ["first"]  # the step before the drop is done and checkpointed

    second = execute_run(run_id, now=NOW, task_id="task-2", engine=engine, settings=settings)
    assert (second.status, second.retry_in_s, second.error) == ("succeeded", None, None)
    done = _run(engine, run_id)
    assert (done.status, done.attempts, done.error) == ("succeeded", 2, None)
    assert CALLS[run_id, "first"] == 1 and CALLS[run_id, "second"] == 2  # continued, not started over
    assert _scores(engine, lead_id) == ["first", "second"]


def test_a_connection_that_keeps_dropping_fails_the_run_after_its_tries(engine: Engine) -> None:
    run_id, lead_id = _new_run(engine, "t_flaky", drops=10)
    outcome = execute_until_settled(run_id, now=NOW, engine=engine, settings=_settings(run_attempts=2))
    assert outcome.status == "failed" and outcome.retry_in_s is None
    failed = _run(engine, run_id)
    assert failed.status == "failed" and failed.attempts == 2
    assert failed.error is not None and failed.error.startswith("OperationalError: (psycopg.OperationalError) "
                                                                "terminating connection")
    assert CALLS[run_id, "second"] == 2 and _scores(engine, lead_id) == ["first"]


def test_execute_until_settled_waits_out_the_drops_for_callers_without_a_queue(engine: Engine) -> None:
    run_id, lead_id = _new_run(engine, "t_flaky", drops=2)
    outcome = execute_until_settled(run_id, now=NOW, engine=engine, settings=_settings())
    assert outcome.status == "succeeded" and _run(engine, run_id).attempts == 3
    assert _scores(engine, lead_id) == ["first", "second"]


def test_other_database_errors_fail_the_run_at_once(engine: Engine) -> None:
    run_id, _lead_id = _new_run(engine, "t_sql_bug")
    outcome = execute_run(run_id, now=NOW, engine=engine, settings=_settings())
    assert outcome.status == "failed" and outcome.retry_in_s is None
    with session_scope(engine) as session:
        run = session.get_one(AgentRun, run_id)
        assert (run.status, run.attempts) == ("failed", 1) and "ProgrammingError" in (run.error or "")


def test_which_errors_count_as_a_lost_connection() -> None:
    assert is_transient(_lost_connection())
    assert is_transient(psycopg.errors.SerializationFailure("could not serialize access"))
    try:  # a driver error wrapped by a library (LangGraph's checkpointer raises psycopg's own)
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.OperationalError as driver:
            raise RuntimeError("checkpoint write failed") from driver
    except RuntimeError as wrapped:
        assert is_transient(wrapped)
    assert not is_transient(RuntimeError("no data for lead 7"))
    assert not is_transient(sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_transient(psycopg.errors.UndefinedColumn("column does not exist"))
    assert [retry_delay(10.0, attempt) for attempt in (1, 2, 3)] == [10.0, 20.0, 40.0]
