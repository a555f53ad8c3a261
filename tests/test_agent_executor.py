"""The executor on a committed database (its nodes and checkpoints use their own connections, as in a worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from agents.registry import AgentSpec
from agents.runtime import runs
from agents.runtime.context import RunContext
from agents.runtime.executor import execute_run, resume_run
from core.config import get_settings
from core.db.engine import session_scope
from core.errors import Conflict
from core.models import AgentRun, AgentScore, AuditLog, LlmCall, Suggestion, Task
from core.services import outputs
from tests import factories, llm_mock
from tests.conftest import committing_engine, registered
from tests.sample_agents import agent_specs, gather_lead_id

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """A database of this module's own: the executor commits, so the shared rolled-back one will not do."""
    yield from committing_engine("rt")


class AskState(TypedDict, total=False):
    inputs: dict[str, Any]
    decision: Any


def _ask(state: AskState, runtime: Runtime[RunContext]) -> AskState:
    decision = interrupt({"lead_id": state["inputs"]["lead_id"]})
    ctx = runtime.context
    with ctx.transaction() as session:
        outputs.write_score(session, ctx.origin, purpose="decided", score=1 if decision == "yes" else 0)
    return {"decision": decision}


def _build_ask(checkpointer: Any) -> Any:
    graph = StateGraph(AskState, context_schema=RunContext)
    graph.add_node("ask", _ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph.compile(checkpointer=checkpointer)


def _build_broken(checkpointer: Any) -> Any:
    def explode(state: AskState, runtime: Runtime[RunContext]) -> AskState:
        raise RuntimeError(f"no data for lead {state['inputs']['lead_id']}")

    graph = StateGraph(AskState, context_schema=RunContext)
    graph.add_node("explode", explode)
    graph.add_edge(START, "explode")
    graph.add_edge("explode", END)
    return graph.compile(checkpointer=checkpointer)


def _build_swept(checkpointer: Any) -> Any:
    """First node: the sweeper fails the run meanwhile; the second node must never run."""

    def first(state: AskState, runtime: Runtime[RunContext]) -> AskState:
        ctx = runtime.context
        with ctx.transaction() as session:
            runs.fail_run(session, ctx.run_id, ctx.now, "stuck: no heartbeat")
        return {}

    def second(state: AskState, runtime: Runtime[RunContext]) -> AskState:
        ctx = runtime.context
        with ctx.transaction() as session:
            outputs.write_score(session, ctx.origin, purpose="never", score=1)
        return {}

    graph = StateGraph(AskState, context_schema=RunContext)
    graph.add_node("first", first)
    graph.add_node("second", second)
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    return graph.compile(checkpointer=checkpointer)


TEST_SPECS = (
    AgentSpec(name="t_ask", subject_type="lead", build_graph=_build_ask, gather=gather_lead_id),
    AgentSpec(name="t_broken", subject_type="lead", build_graph=_build_broken, gather=gather_lead_id),
    AgentSpec(name="t_swept", subject_type="lead", build_graph=_build_swept, gather=gather_lead_id),
)


@pytest.fixture(scope="module", autouse=True)
def agents() -> Iterator[None]:
    yield from registered([*agent_specs(), *TEST_SPECS])


def _new_run(engine: Engine, agent: str, **lead: Any) -> tuple[int, int]:
    with session_scope(engine) as session:
        row = factories.lead(session, **lead)
        run = runs.create_run(session, agent, "manual", "lead", row.id)
        assert run is not None
        return run.id, row.id


def _queue(engine: Engine, agent: str, lead_id: int) -> int:
    with session_scope(engine) as session:
        run = runs.create_run(session, agent, "manual", "lead", lead_id)
        assert run is not None
        return run.id


def _run(session: Session, run_id: int) -> AgentRun:
    return runs.get_run(session, run_id)


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_run_writes_its_outputs_checkpoints_and_audit_then_an_unchanged_rerun_is_skipped(engine: Engine) -> None:
    run_id, lead_id = _new_run(engine, "sample_scorer", title="CTO", employees=600, industry="Software")
    outcome = execute_run(run_id, now=NOW, task_id="task-1", engine=engine)
    assert (outcome.status, outcome.claimed, outcome.error) == ("succeeded", True, None)
    with session_scope(engine) as session:
        run = _run(session, run_id)
        assert run.status == "succeeded" and run.attempts == 1 and run.input_hash and len(run.input_hash) == 64
        assert run.started_at == NOW and run.finished_at == NOW and run.llm_calls == 0
        assert run.summary["outputs"] == {"scores": 1, "suggestions": 0, "tasks": 1, "drafts": 0}
        score = session.scalars(select(AgentScore).where(AgentScore.run_id == run_id)).one()
        assert (score.subject_id, score.score, score.band, score.model) == (lead_id, 52, "warm", "sample_rules@1")
        task = session.scalars(select(Task).where(Task.agent_run_id == run_id)).one()
        assert task.lead_id == lead_id and task.due_at == NOW + timedelta(days=1)
        assert {a.entity_type for a in session.scalars(select(AuditLog).where(
            AuditLog.actor == "agent:sample_scorer", AuditLog.after["run_id"].as_integer() == run_id))} == {
            "agent_score", "task"}
        steps = session.execute(text("SELECT count(*) FROM checkpoints WHERE thread_id = :t"),
                                {"t": str(run_id)}).scalar()
        assert steps is not None and steps >= 3  # input, score, follow_up

    again = execute_run(_queue(engine, "sample_scorer", lead_id), now=NOW, engine=engine)
    assert again.status == "skipped"
    with session_scope(engine) as session:
        skipped = _run(session, again.run_id)
        assert skipped.input_hash == _run(session, run_id).input_hash
        assert skipped.summary == {"skipped": f"inputs unchanged since run {run_id}"}
        assert _count(session, AgentScore, AgentScore.subject_id == lead_id) == 1
        assert _count(session, Task, Task.lead_id == lead_id) == 1
        factories.activity(session, lead_id=lead_id)

    changed = execute_run(_queue(engine, "sample_scorer", lead_id), now=NOW, engine=engine)
    assert changed.status == "succeeded"
    with session_scope(engine) as session:
        assert _count(session, AgentScore, AgentScore.subject_id == lead_id) == 2


def test_an_unchanged_rerun_makes_zero_model_calls(engine: Engine) -> None:
    server = llm_mock.ScriptedServer(llm_mock.text("This lead is hot: senior title and strong engagement.",
                                                   usage=(80, 12)))
    settings = llm_mock.llm_settings()
    run_id, lead_id = _new_run(engine, "sample_writer", title="VP Sales", employees=300, industry="Retail")
    first = execute_run(run_id, now=NOW, engine=engine, http_client=server.client(), settings=settings)
    assert first.status == "succeeded" and first.llm_calls == 1 and len(server.http) == 1
    with session_scope(engine) as session:
        run = _run(session, run_id)
        assert (run.llm_calls, run.input_tokens, run.output_tokens) == (1, 80, 12)
        assert run.prompt_refs == ["lead_scorer.explain@1"] and run.model == "test-model"
        suggestion = session.scalars(select(Suggestion).where(Suggestion.run_id == run_id)).one()
        assert suggestion.body.startswith("This lead is hot") and not suggestion.fallback

    rerun = execute_run(_queue(engine, "sample_writer", lead_id), now=NOW, engine=engine,
                        http_client=server.client(), settings=settings)
    assert rerun.status == "skipped" and rerun.llm_calls == 0
    assert len(server.http) == 1
    with session_scope(engine) as session:
        assert _count(session, LlmCall, LlmCall.run_id == rerun.run_id) == 0
        assert _run(session, rerun.run_id).llm_calls == 0
        assert _count(session, Suggestion, Suggestion.subject_id == lead_id) == 1


def test_a_failing_node_fails_the_run_with_a_message(engine: Engine) -> None:
    run_id, lead_id = _new_run(engine, "t_broken")
    outcome = execute_run(run_id, now=NOW, engine=engine)
    assert outcome.status == "failed"
    assert outcome.error == f"RuntimeError: no data for lead {lead_id}"
    with session_scope(engine) as session:
        run = _run(session, run_id)
        assert run.status == "failed" and run.error == outcome.error and run.finished_at == NOW
        assert "Traceback" not in (run.error or "")


def test_a_missing_subject_or_an_unknown_agent_fails_the_run(engine: Engine) -> None:
    missing = _queue(engine, "sample_scorer", 987_654_321)
    assert execute_run(missing, now=NOW, engine=engine).error == "lead 987654321 not found"
    with session_scope(engine) as session:
        run = runs.create_run(session, "no_such_agent", "manual", "lead", 1)
        assert run is not None
        unknown = run.id
    outcome = execute_run(unknown, now=NOW, engine=engine)
    assert outcome.status == "failed" and "unknown agent 'no_such_agent'" in (outcome.error or "")


def test_a_finished_or_foreign_run_is_not_claimed(engine: Engine) -> None:
    run_id, _ = _new_run(engine, "sample_scorer")
    assert execute_run(run_id, now=NOW, engine=engine).status == "succeeded"
    late = execute_run(run_id, now=NOW, engine=engine)
    assert (late.claimed, late.status) == (False, "succeeded")
    other, _ = _new_run(engine, "sample_scorer")
    with session_scope(engine) as session:
        assert runs.claim_run(session, other, "worker-a", NOW) is not None
    foreign = execute_run(other, now=NOW, task_id="worker-b", engine=engine)
    assert (foreign.claimed, foreign.status) == (False, "running")


def test_a_paused_run_waits_for_review_and_resumes_once(engine: Engine) -> None:
    run_id, lead_id = _new_run(engine, "t_ask")
    paused = execute_run(run_id, now=NOW, engine=engine)
    assert paused.status == "waiting_review"
    [pending] = paused.interrupts
    assert pending["value"] == {"lead_id": lead_id} and pending["id"]
    with session_scope(engine) as session:
        run = _run(session, run_id)
        assert run.status == "waiting_review" and run.finished_at is None
        assert run.summary["interrupts"] == paused.interrupts
        assert _count(session, AgentScore, AgentScore.run_id == run_id) == 0
    assert not execute_run(run_id, now=NOW, engine=engine).claimed

    done = resume_run(run_id, "yes", interrupt_id=pending["id"], now=NOW + timedelta(hours=1), engine=engine)
    assert done.status == "succeeded"
    with session_scope(engine) as session:
        assert _run(session, run_id).finished_at == NOW + timedelta(hours=1)
        score = session.scalars(select(AgentScore).where(AgentScore.run_id == run_id)).one()
        assert score.score == 1
    with pytest.raises(Conflict, match=f"run {run_id} is succeeded"):
        resume_run(run_id, "no", engine=engine)


def test_a_run_the_sweeper_failed_stops_at_its_next_step(engine: Engine) -> None:
    run_id, _ = _new_run(engine, "t_swept")
    outcome = execute_run(run_id, now=NOW, engine=engine)
    assert (outcome.status, outcome.error) == ("failed", "stuck: no heartbeat")
    with session_scope(engine) as session:
        assert _count(session, AgentScore, AgentScore.run_id == run_id) == 0


def test_a_killed_run_is_continued_from_its_checkpoint_by_its_redelivered_message(engine: Engine) -> None:
    run_id, _ = _new_run(engine, "sample_slow")
    url = engine.url
    env = os.environ | {"SALESAGENTS_DATABASE_NAME": str(url.database), "SALESAGENTS_SAMPLE_SLOW_SECONDS": "60",
                        "SALESAGENTS_AGENT_MODULES": '["tests.sample_agents"]', "PYTHONPATH": REPO}
    if get_settings().database_url:
        env["DATABASE_URL"] = url.render_as_string(hide_password=False)
    code = f"from agents.runtime.executor import execute_run; execute_run({run_id}, task_id='msg-1')"
    worker = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the first node ("begin") is checkpointed: the heartbeat moved on
            with session_scope(engine) as session:
                run = _run(session, run_id)
                if run.status == "running" and run.heartbeat_at and run.started_at and \
                        run.heartbeat_at > run.started_at:
                    break
            assert worker.poll() is None, "the worker ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("the run never got past its first step")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)

    os.environ["SALESAGENTS_SAMPLE_SLOW_SECONDS"] = "0.05"
    try:
        assert not execute_run(run_id, task_id="msg-2", engine=engine).claimed
        outcome = execute_run(run_id, task_id="msg-1", engine=engine)
    finally:
        del os.environ["SALESAGENTS_SAMPLE_SLOW_SECONDS"]
    assert outcome.status == "succeeded"
    with session_scope(engine) as session:
        run = _run(session, run_id)
        assert run.attempts == 2 and run.status == "succeeded"
        scores = session.scalars(select(AgentScore).where(AgentScore.run_id == run_id)).all()
        assert [(s.purpose, float(s.score)) for s in scores] == [("slow", 0.05)]
        begins = session.execute(text(
            "SELECT count(DISTINCT task_id) FROM checkpoint_writes WHERE thread_id = :t AND channel = 'began'"),
            {"t": str(run_id)}).scalar()
        assert begins == 1  # the first node ran once, before the kill; the redelivery continued after it


def test_a_redelivery_after_the_pause_was_checkpointed_but_not_recorded_waits_again(engine: Engine) -> None:
    run_id, _ = _new_run(engine, "t_ask")
    paused = execute_run(run_id, now=NOW, task_id="msg-1", engine=engine)
    assert paused.status == "waiting_review"
    with session_scope(engine) as session:  # as if the worker died between the checkpoint and the status update
        run = _run(session, run_id)
        run.status, run.finished_at = "running", None
    again = execute_run(run_id, now=NOW, task_id="msg-1", engine=engine)
    assert again.status == "waiting_review" and again.interrupts == paused.interrupts
    with session_scope(engine) as session:
        assert _run(session, run_id).attempts == 2
        assert runs.claim_run(session, run_id, "msg-1", NOW) is None
    done = resume_run(run_id, "no", engine=engine)
    assert done.status == "succeeded"
    with session_scope(engine) as session:
        assert _run(session, run_id).task_id is None
        assert [float(s.score) for s in session.scalars(select(AgentScore).where(AgentScore.run_id == run_id))] == [0]
