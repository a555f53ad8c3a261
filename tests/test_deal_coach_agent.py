"""Deal Coach agent end to end with a scripted model: grounded advice written as a suggestion, a task and a score;
unchanged deals neither re-run the model nor write again; ungrounded advice gets one repair, then the fallback;
the rep's daily digest; the daily schedule; the eval suite through `eval run`; `salesagents forecast`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agents import registry
from agents.deal_coach import agent_specs
from agents.deal_coach.graph import DIGEST_AGENT
from agents.deal_coach.nodes import deal_of_event, flagged_changed_deals
from agents.dispatcher import dispatch_events
from agents.runtime import runs
from agents.runtime.executor import RunOutcome, execute_run
from agents.schedules import schedule_runs
from api.cli import forecast as forecast_cli
from api.cli.evals import app as evals_cli
from core.db.engine import session_scope
from core.models import AgentRun, AgentScore, Deal, LlmCall, Suggestion, Task, User
from core.models.enums import ActivityKind, TaskSource
from core.repositories import events as events_repo
from core.services import deals as deal_service
from core.services import engagement
from evals.deal_coach.scenarios import build_all, load_cases
from tests.conftest import committing_engine, registered
from tests.llm_mock import ScriptedServer, llm_settings, status, tool

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
CASES = {c.name: c for c in load_cases()}


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """A database of this module's own: the executor commits."""
    yield from committing_engine("dc")


@pytest.fixture(scope="module", autouse=True)
def agent() -> Iterator[None]:
    yield from registered([s for s in agent_specs() if s.name not in {x.name for x in registry.all_specs()}])


_start = iter(range(100, 10_000, 10))


def _build(engine: Engine, *names: str) -> list[int]:
    with session_scope(engine) as session:
        return list(build_all(session, NOW, [CASES[n] for n in names], start=next(_start)))


def _execute(engine: Engine, agent: str, subject_id: int, now: datetime = NOW,
             server: ScriptedServer | None = None) -> RunOutcome:
    with session_scope(engine) as session:
        run = runs.create_run(session, agent, "manual", "deal" if agent == "deal_coach" else "user", subject_id)
        assert run is not None
        run_id = run.id
    return execute_run(run_id, now=now, engine=engine, settings=llm_settings(),
                       http_client=(server or ScriptedServer()).client())


def _advice(action: str, why: str, days: int = 1) -> dict[str, Any]:
    return {"actions": [{"action": action, "why": why, "due_date": (TODAY + timedelta(days=days)).isoformat()}]}


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_grounded_advice_becomes_a_suggestion_a_task_and_a_score_once(engine: Engine) -> None:
    [deal_id] = _build(engine, "nothing planned")
    with session_scope(engine) as session:
        assert deal_id in flagged_changed_deals(session, NOW)
        name = session.get_one(Deal, deal_id).name
        number = name.rsplit(" ", 1)[1]
        owner_id = session.get_one(Deal, deal_id).owner_id
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    server = ScriptedServer(tool(_advice(f"Call Dana{number} Decider and book the next meeting",
                                         f"Nothing is planned since the call on {yesterday}.")))
    outcome = _execute(engine, "deal_coach", deal_id, server=server)
    assert outcome.status == "succeeded" and outcome.llm_calls == 1, outcome.error
    shown = server.user_text()
    assert f"Dana{number} Decider (CEO, decision maker)" in shown and "<<< deal timeline" in shown
    assert "no open task or scheduled activity ahead" in shown and f"{yesterday} call with Dana{number}" in shown
    with session_scope(engine) as session:
        suggestion = session.scalars(select(Suggestion).where(Suggestion.subject_id == deal_id,
                                                              Suggestion.agent == "deal_coach")).one()
        assert not suggestion.fallback and suggestion.prompt_ref == "deal_coach.next_actions@1"
        assert suggestion.body.startswith(f"1. Call Dana{number} Decider and book the next meeting (by ")
        assert [fl["code"] for fl in suggestion.evidence["flags"]] == ["no_next_step"]
        assert suggestion.evidence["flags"][0]["evidence"]["last_activity"] == yesterday
        task = session.scalars(select(Task).where(Task.agent_run_id == outcome.run_id)).one()
        assert (task.assignee_id, task.source, task.deal_id) == (owner_id, TaskSource.agent, deal_id)
        assert task.due_at == datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), UTC) + timedelta(
            hours=17)
        score = session.scalars(select(AgentScore).where(AgentScore.run_id == outcome.run_id)).one()
        assert (float(score.score), score.band) == (0.25, "Demo")
        # The coach's own task is not the deal's next step: the flag stays, the facts are unchanged.
        assert deal_id not in flagged_changed_deals(session, NOW)
        assert deal_id not in flagged_changed_deals(session, NOW + timedelta(hours=3))

    again = _execute(engine, "deal_coach", deal_id, now=NOW + timedelta(hours=3))  # no scripted reply
    assert (again.status, again.llm_calls) == ("skipped", 0), again.error
    with session_scope(engine) as session:
        assert _count(session, Suggestion, Suggestion.subject_id == deal_id, Suggestion.agent == "deal_coach") == 1
        assert _count(session, Task, Task.deal_id == deal_id, Task.source == TaskSource.agent) == 1
        engagement.log_activity(session, kind=ActivityKind.email, subject="Sent the agenda",
                                occurred_at=NOW + timedelta(hours=1), deal_id=deal_id)
    with session_scope(engine) as session:
        assert deal_id in flagged_changed_deals(session, NOW + timedelta(hours=2))  # a new fact: coached again
        first_id = session.scalars(select(Suggestion.id).where(Suggestion.subject_id == deal_id,
                                                               Suggestion.agent == "deal_coach")).one()
    recoach = _execute(engine, "deal_coach", deal_id, now=NOW + timedelta(hours=2), server=ScriptedServer(
        tool(_advice(f"Call Dana{number} Decider about the agenda", "Nothing is planned after the agenda email."))))
    assert recoach.status == "succeeded", recoach.error
    with session_scope(engine) as session:  # the rep sees the current advice; the earlier one is closed, by nobody
        rows = session.scalars(select(Suggestion).where(Suggestion.subject_id == deal_id,
                                                        Suggestion.agent == "deal_coach").order_by(Suggestion.id)).all()
        assert [(r.id == first_id, r.status) for r in rows] == [(True, "dismissed"), (False, "open")]
        assert rows[0].evidence["superseded_by"] == rows[1].id and rows[0].decided_by_id is None


def test_ungrounded_advice_gets_one_repair_then_the_fallback(engine: Engine) -> None:
    [deal_id] = _build(engine, "everything wrong")
    invented = _advice("Call Jennifer Walsh to restart the talks", "Jennifer Walsh asked for $48,500 off.")
    server = ScriptedServer(tool(invented), tool(invented))
    outcome = _execute(engine, "deal_coach", deal_id, server=server)
    assert outcome.status == "succeeded", outcome.error
    assert len(server.requests) == 2 and "'Jennifer Walsh' is not a person of this deal" in server.user_text(1)
    assert "the amount '$48,500' is not in the deal's data" in server.user_text(1)
    with session_scope(engine) as session:
        suggestion = session.scalars(select(Suggestion).where(Suggestion.subject_id == deal_id)).one()
        assert suggestion.fallback and suggestion.model == "template" and "Jennifer" not in suggestion.body
        assert len(suggestion.evidence["actions"]) == 3 and suggestion.evidence["outcome"] == "fallback"
        assert {fl["code"] for fl in suggestion.evidence["flags"]} == {
            "stage_overdue", "no_activity", "close_date_past", "no_next_step", "close_date_pushed",
            "no_decision_maker"}
        assert "moved later 2 times" in suggestion.body
        [call] = session.scalars(select(LlmCall).where(LlmCall.run_id == outcome.run_id)).all()
        assert (call.outcome, call.prompt_ref) == ("fallback", "deal_coach.next_actions@1")


def test_a_repaired_answer_is_kept_and_a_failing_model_falls_back(engine: Engine) -> None:
    first, second = _build(engine, "idle a month", "close date yesterday")
    server = ScriptedServer(tool(_advice("Send the contract before 2031-01-01", "They asked for it.")),
                            tool(_advice("Call the customer and book a meeting", "No activity for 30 days.", 2)))
    repaired = _execute(engine, "deal_coach", first, server=server)
    assert repaired.status == "succeeded", repaired.error
    assert "the date '2031-01-01' is not in the deal's data" in server.user_text(1)
    down = _execute(engine, "deal_coach", second, server=ScriptedServer(*[status(500)] * 3))
    assert down.status == "succeeded", down.error
    with session_scope(engine) as session:
        kept = session.scalars(select(Suggestion).where(Suggestion.subject_id == first)).one()
        assert not kept.fallback and kept.evidence["outcome"] == "repaired"
        assert kept.body.startswith("1. Call the customer and book a meeting")
        fell = session.scalars(select(Suggestion).where(Suggestion.subject_id == second)).one()
        assert fell.fallback and "has passed" in fell.body
        assert session.scalars(select(LlmCall.outcome).where(LlmCall.run_id == down.run_id)).one() == "error"


def test_healthy_closed_and_unknown_deals(engine: Engine) -> None:
    healthy, closed = _build(engine, "healthy demo", "idle 14 days")
    with session_scope(engine) as session:
        deal_service.close_won(session, closed, now=NOW)
    for deal_id in (healthy, closed):
        outcome = _execute(engine, "deal_coach", deal_id)
        assert (outcome.status, outcome.llm_calls) == ("succeeded", 0), outcome.error
    with session_scope(engine) as session:
        assert _count(session, Suggestion, Suggestion.subject_id.in_([healthy, closed])) == 0
        assert not {healthy, closed} & set(flagged_changed_deals(session, NOW))
    unknown = _execute(engine, "deal_coach", 987654)
    assert unknown.status == "failed" and "deal" in (unknown.error or "")


def test_the_daily_schedule_runs_flagged_changed_deals_and_one_digest_per_rep(engine: Engine) -> None:
    later = NOW + timedelta(days=1)
    settings = llm_settings(llm_budgets={"deal_coach": {"per_run": 0}})  # fallback advice, no model calls
    with session_scope(engine) as session:
        build_all(session, NOW, [CASES["demo with users only"], CASES["busy negotiation"]], start=next(_start),
                  owner_email="digest.rep@example.test")
        rep_id = session.scalars(select(User.id).where(User.email == "digest.rep@example.test")).one()
        expected = set(flagged_changed_deals(session, later))
        first = schedule_runs(session, "deal_coach", later, settings)
        digests = schedule_runs(session, DIGEST_AGENT, later, settings)
        coached = {r.subject_id for r in session.scalars(select(AgentRun).where(AgentRun.id.in_(first.run_ids)))}
        assert coached == expected and first.slot == f"{later:%Y-%m-%d}T07:00Z"
    outcomes = [execute_run(r, now=later, engine=engine, settings=settings) for r in first.run_ids + digests.run_ids]
    assert {o.status for o in outcomes} == {"succeeded"}, [o.error for o in outcomes]
    with session_scope(engine) as session:
        assert flagged_changed_deals(session, later) == []
        assert schedule_runs(session, "deal_coach", later + timedelta(days=1), settings).run_ids == []
        digest = session.scalars(select(Suggestion).where(Suggestion.subject_type == "user",
                                                          Suggestion.subject_id == rep_id)).one()
        assert digest.title == f"Deal coach digest {later.date()}: 1 deal(s) need you"
        assert "no activity with a decision maker" in digest.body and "(suggestion #" in digest.body
        assert digest.idempotency_key.endswith(f":digest:{later.date()}")
    same_day = _execute(engine, DIGEST_AGENT, rep_id, now=later + timedelta(hours=2))
    assert same_day.status == "skipped", same_day.error
    next_day = _execute(engine, DIGEST_AGENT, rep_id, now=later + timedelta(days=1))
    assert next_day.status == "succeeded", next_day.error
    with session_scope(engine) as session:
        assert _count(session, Suggestion, Suggestion.subject_type == "user", Suggestion.subject_id == rep_id) == 2


def test_the_eval_suite_through_eval_run_flags_every_scenario_and_stores_only_grounded_advice(tmp_path: Path) -> None:
    result = CliRunner().invoke(evals_cli, ["run", "deal_coach", "--datasets", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["scenarios"] >= 40 and figures["mismatches"] == []
    assert all(pr["precision"] == pr["recall"] == 1.0 for pr in figures["flags"].values())
    grounding = figures["grounding"]
    assert grounding["grounded_rate"] == 1.0 and grounding["failures"] == []
    assert 0 < grounding["fallback"] < grounding["suggestions"]
    assert set(grounding["llm_outcomes"]) == {"ok", "repaired", "fallback"}
    assert figures["forecast"] == [] and "has no sales_pipeline.csv" in figures["forecast_skipped"]


@pytest.fixture
def cli(scratch_db: object) -> typer.Typer:
    app = typer.Typer()
    app.add_typer(forecast_cli.app, name="forecast")
    return app


def test_forecast_command_prints_weighted_pipeline_per_team_and_quarter(cli: typer.Typer) -> None:
    with session_scope() as session:
        build_all(session, NOW, [CASES["healthy demo"], CASES["healthy proposal"]])
    out = CliRunner().invoke(cli, ["forecast", "--by", "team", "--period", "quarter"])
    assert out.exit_code == 0, out.output
    assert "Weighted pipeline by team and quarter" in out.output and "2026-Q2" in out.output
    # Demo 1000 x 0.25 closing 2026-04-09 (Q2); Proposal 2000 x 0.50 closing 2026-03-30 (Q1).
    assert "250.00" in out.output and "1,000.00" in out.output and "no team" in out.output
    bad = CliRunner().invoke(cli, ["forecast", "--period", "week"])
    assert bad.exit_code != 0 and "period" in str(bad.exception or bad.output)


def test_a_stage_change_or_an_activity_on_a_deal_queues_a_coach_run(engine: Engine) -> None:
    with session_scope(engine) as session:
        dispatch_events(session, NOW, llm_settings(), limit=100_000)  # earlier tests' events
    idle, moved = _build(engine, "idle a month", "healthy demo")  # logs calls on idle; moves moved to Demo
    with session_scope(engine) as session:
        note = engagement.log_activity(session, kind=ActivityKind.note, subject="Account note", occurred_at=NOW,
                                       account_id=session.get_one(Deal, idle).account_id)
        result = dispatch_events(session, NOW, llm_settings(), limit=100_000)
        queued = session.scalars(select(AgentRun).where(AgentRun.id.in_(result.run_ids),
                                                        AgentRun.agent == "deal_coach")).all()
        assert {idle, moved} <= {r.subject_id for r in queued}  # (the first build's history deals moved too)
        assert {r.trigger for r in queued} == {"event"}
        [event] = [e for e in events_repo.events_for(session, "activity", note.id)]
        assert deal_of_event(event) is None
