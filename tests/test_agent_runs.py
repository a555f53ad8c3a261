"""Runs, outputs and the registry inside one rolled-back transaction: create, dedupe, claim, finish, stuck."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents import registry
from agents.runtime import runs
from agents.runtime.executor import input_hash
from core.config import get_settings
from core.errors import InvalidInput
from core.models import AgentScore, AuditLog, OutboxEvent, Suggestion, Task
from core.models.enums import TaskSource
from core.services import outputs
from tests import factories
from tests.sample_agents import agent_specs, lead_of_event

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_dedupe_key_makes_one_run_per_agent(session: Session) -> None:
    lead = factories.lead(session)
    first = runs.create_run(session, "sample_scorer", "event", "lead", lead.id, dedupe_key="event:lead:1:7")
    again = runs.create_run(session, "sample_scorer", "event", "lead", lead.id, dedupe_key="event:lead:1:7")
    other_agent = runs.create_run(session, "sample_slow", "event", "lead", lead.id, dedupe_key="event:lead:1:7")
    no_key = [runs.create_run(session, "sample_scorer", "manual", "lead", lead.id) for _ in range(2)]
    assert first is not None and first.status == "queued" and first.attempts == 0
    assert again is None
    assert other_agent is not None
    assert all(r is not None for r in no_key) and len({r.id for r in no_key if r}) == 2


def test_create_run_names_the_bad_field(session: Session) -> None:
    with pytest.raises(InvalidInput, match="trigger"):
        runs.create_run(session, "sample_scorer", "cron", "lead", 1)
    with pytest.raises(InvalidInput, match="dedupe_key"):
        runs.create_run(session, "sample_scorer", "manual", "lead", 1, dedupe_key="x" * 201)


def test_claim_is_exclusive_but_a_redelivered_message_reclaims_its_own_run(session: Session) -> None:
    run = runs.create_run(session, "sample_scorer", "manual", "lead", 1)
    assert run is not None
    claimed = runs.claim_run(session, run.id, "task-a", NOW)
    assert claimed is not None and (claimed.status, claimed.task_id, claimed.attempts) == ("running", "task-a", 1)
    assert runs.claim_run(session, run.id, "task-b", NOW) is None
    assert runs.claim_run(session, run.id, None, NOW) is None
    again = runs.claim_run(session, run.id, "task-a", NOW + timedelta(minutes=1))
    assert again is not None and again.attempts == 2 and again.started_at == NOW
    assert runs.finish_run(session, run.id, NOW, status="succeeded", llm_calls=0)
    assert runs.claim_run(session, run.id, "task-a", NOW) is None
    assert runs.get_run(session, run.id).finished_at == NOW


def test_a_failed_run_cannot_be_finished_or_reclaimed(session: Session) -> None:
    run = runs.create_run(session, "sample_scorer", "manual", "lead", 1)
    assert run is not None and runs.claim_run(session, run.id, "t", NOW) is not None
    assert runs.fail_run(session, run.id, NOW, "stuck: no heartbeat")
    assert not runs.finish_run(session, run.id, NOW)
    assert not runs.heartbeat(session, run.id, NOW)
    assert runs.claim_run(session, run.id, "t", NOW) is None
    assert runs.get_run(session, run.id).error == "stuck: no heartbeat"


def test_stuck_runs_are_the_silent_running_and_the_long_queued(session: Session) -> None:
    limit = timedelta(seconds=get_settings().run_stuck_after_s)
    silent = runs.create_run(session, "sample_scorer", "manual", "lead", 1)
    alive = runs.create_run(session, "sample_scorer", "manual", "lead", 2)
    assert silent is not None and alive is not None
    runs.claim_run(session, silent.id, "t1", NOW - limit - timedelta(seconds=5))
    runs.claim_run(session, alive.id, "t2", NOW - limit - timedelta(seconds=5))
    runs.heartbeat(session, alive.id, NOW - timedelta(seconds=10))
    queued_old = runs.create_run(session, "sample_scorer", "manual", "lead", 3)
    queued_new = runs.create_run(session, "sample_scorer", "manual", "lead", 4)
    assert queued_old is not None and queued_new is not None
    queued_old.queued_at = NOW - limit - timedelta(seconds=1)
    queued_new.queued_at = NOW - timedelta(seconds=30)
    session.flush()
    found = {r.id for r in runs.stuck_runs(session, NOW)}
    assert {silent.id, queued_old.id} <= found
    assert not {alive.id, queued_new.id} & found
    quick = {r.id for r in runs.stuck_runs(session, NOW, queued_after_s=20)}
    assert queued_new.id in quick and alive.id not in quick


def test_outputs_are_written_once_per_key_with_one_audit_row(session: Session) -> None:
    lead = factories.lead(session)
    run = runs.create_run(session, "sample_scorer", "manual", "lead", lead.id)
    assert run is not None
    origin = outputs.Origin(run.id, "sample_scorer", "lead", lead.id, "a" * 64)
    scores = [outputs.write_score(session, origin, purpose="lead_score", score=42, band="warm",
                                  factors={"x": 1}, model="rules@1") for _ in range(2)]
    tasks = [outputs.write_task(session, origin, purpose="follow_up", title="Call", lead_id=lead.id) for _ in range(2)]
    suggestions = [outputs.write_suggestion(session, origin, purpose="tip", title="T", body="B",
                                            prompt_ref="p@1", model="m") for _ in range(2)]
    drafts = [outputs.write_draft(session, origin, purpose="email", recipient="a@b.test", subject="S", body="Hi",
                                  prompt_ref="p@2", model="m") for _ in range(2)]
    for pair in (scores, tasks, suggestions, drafts):
        assert pair[0].id == pair[1].id
    assert tasks[0].source is TaskSource.agent and tasks[0].agent_run_id == run.id
    assert drafts[0].status == "pending_review"
    assert session.scalar(select(func.count()).select_from(AgentScore).where(AgentScore.run_id == run.id)) == 1
    assert session.scalar(select(func.count()).select_from(Suggestion).where(Suggestion.run_id == run.id)) == 1
    assert session.scalar(select(func.count()).select_from(Task).where(Task.agent_run_id == run.id)) == 1
    audits = session.scalars(select(AuditLog).where(AuditLog.actor == "agent:sample_scorer",
                                                    AuditLog.after["run_id"].as_integer() == run.id)).all()
    assert sorted(a.entity_type for a in audits) == ["agent_score", "draft", "suggestion", "task"]
    by_type = {a.entity_type: a.after or {} for a in audits}
    assert by_type["draft"]["prompt_ref"] == "p@2" and by_type["draft"]["model"] == "m"
    assert by_type["agent_score"]["model"] == "rules@1" and by_type["agent_score"]["score"] == "42.0000"
    other_input = outputs.Origin(run.id, "sample_scorer", "lead", lead.id, "b" * 64)
    assert outputs.write_score(session, other_input, purpose="lead_score", score=50).id != scores[0].id


def test_outputs_refuse_bad_values_by_field(session: Session) -> None:
    origin = outputs.Origin(1, "sample_scorer", "lead", 1, "c" * 64)
    with pytest.raises(InvalidInput, match="purpose"):
        origin.key("a:b")
    with pytest.raises(InvalidInput, match="recipient"):
        outputs.write_draft(session, origin, purpose="email", recipient="nobody", subject="S", body="B")
    with pytest.raises(InvalidInput, match="score"):
        outputs.write_score(session, origin, purpose="s", score=float("nan"))
    with pytest.raises(InvalidInput, match="purpose"):
        outputs.Origin(1, "a" * 60, "lead", 1, "c" * 64).key("p" * 80)


def test_input_hash_is_canonical() -> None:
    assert input_hash({"a": 1, "b": [1, 2]}) == input_hash({"b": [1, 2], "a": 1})
    assert input_hash({"a": 1}) != input_hash({"a": 2})
    assert len(input_hash({})) == 64


def test_registry_loads_agent_modules_from_settings_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", "[]")
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidInput, match="unknown agent 'sample_scorer'"):
            registry.get("sample_scorer")
        monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", '["tests.sample_agents"]')
        get_settings.cache_clear()
        assert registry.get("sample_scorer").subject_type == "lead"
        assert [s.name for s in registry.for_topic("activity.logged")] == ["sample_scorer"]
        assert [s.name for s in registry.scheduled()] == ["sample_scorer"]
        assert {s.name for s in registry.all_specs()} >= {"sample_scorer", "sample_slow", "sample_writer"}
        monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", '["tests.no_such_module"]')
        get_settings.cache_clear()
        with pytest.raises(InvalidInput, match="agent_modules"):
            registry.all_specs()
    finally:
        get_settings.cache_clear()


def test_explicit_registration_refuses_a_second_spec_under_one_name() -> None:
    spec = agent_specs()[0]
    registry.register(spec)
    try:
        registry.register(spec)
        with pytest.raises(InvalidInput, match="already registered"):
            registry.register(replace(spec, needs_llm=True))
    finally:
        registry.unregister(spec.name)


def test_events_map_to_the_lead_they_concern(session: Session) -> None:
    created = OutboxEvent(topic="lead.created", aggregate_type="lead", aggregate_id=11, payload={})
    activity = OutboxEvent(topic="activity.logged", aggregate_type="activity", aggregate_id=5,
                           payload={"lead_id": 12, "kind": "call"})
    on_account = OutboxEvent(topic="activity.logged", aggregate_type="activity", aggregate_id=6,
                             payload={"lead_id": None, "account_id": 3})
    assert [lead_of_event(e) for e in (created, activity, on_account)] == [11, 12, None]
