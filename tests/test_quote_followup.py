"""Quote Follow-up: the selection rules, one nudge per window across repeated runs, the approval path with a
scripted model, the scenario suite, and `salesagents run quote_followup --all` on a small seeded CRM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agents import registry
from agents.quote_followup import agent_specs
from agents.quote_followup.nodes import due_quotes
from agents.runtime import runs
from agents.runtime.executor import RunOutcome, execute_run
from agents.schedules import schedule_runs
from api.cli import agents as agents_cli
from api.cli.evals import app as evals_cli
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.models import Account, AgentRun, Approval, Draft, LlmCall, MailMessage, Pipeline, Quote, Task, User
from core.models.enums import Role, TaskPriority, TaskSource
from core.services import approvals
from evals.quote_followup.scenarios import Scenario, build, build_all, pipelines
from tests.conftest import committing_engine, registered
from tests.llm_mock import ScriptedServer, llm_settings
from tests.llm_mock import text as reply
from tools.quote_followup.selection import after_days, decide

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
NUDGE = ("Hi Dana1, did you have a chance to review quote Q-1? I am happy to answer any questions you have. "
         "Rep 1")


def quote(status: str = "sent", sent_days_ago: int | None = 6, valid_in: int | None = 30,
          answered: bool = False) -> dict[str, Any]:
    return {"status": status, "sent_at": NOW - timedelta(days=sent_days_ago) if sent_days_ago is not None else None,
            "responded_at": NOW if answered else None,
            "valid_until": TODAY + timedelta(days=valid_in) if valid_in is not None else None}


@pytest.mark.parametrize(("facts", "action", "window", "escalate"), [
    (quote(sent_days_ago=4), "none", None, False),
    (quote(sent_days_ago=5), "nudge", "w1", False),
    (quote(sent_days_ago=9), "nudge", "w1", False),
    (quote(sent_days_ago=10), "nudge", "w2", False),
    (quote(sent_days_ago=21, valid_in=None), "nudge", "w4", False),
    (quote(sent_days_ago=2, valid_in=3), "nudge", "final", True),
    (quote(sent_days_ago=8, valid_in=0), "nudge", "final", True),
    (quote(sent_days_ago=0, valid_in=1), "none", None, False),
    (quote(sent_days_ago=2, valid_in=4), "none", None, False),
    (quote(sent_days_ago=20, valid_in=-1), "none", None, False),
    (quote(answered=True), "none", None, False),
    (quote(status="accepted"), "none", None, False),
    (quote(status="rejected"), "none", None, False),
    (quote(status="expired", valid_in=-3), "none", None, False),
    (quote(status="draft", sent_days_ago=None), "none", None, False),
])
def test_selection_rules(facts: dict[str, Any], action: str, window: str | None, escalate: bool) -> None:
    decision = decide(facts, TODAY, after=5, escalate_within=3)
    assert (decision.action, decision.window, decision.escalate) == (action, window, escalate), decision.reason


def test_the_nudge_delay_is_per_pipeline_with_a_default() -> None:
    settings = Settings(quote_followup_after_days=7, quote_followup_after_days_by_pipeline={"Enterprise": 14})
    assert (after_days(settings, "Enterprise"), after_days(settings, "Sales"), after_days(settings, None)) == (
        14, 7, 7)
    assert decide(quote(sent_days_ago=10), TODAY, after=14, escalate_within=3).action == "none"
    assert decide(quote(sent_days_ago=10), TODAY, after=7, escalate_within=3).window == "w1"
    with pytest.raises(ValueError):
        Settings(quote_followup_after_days=0)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """A database of this module's own: the executor and the approvals commit."""
    yield from committing_engine("qf")


@pytest.fixture(scope="module", autouse=True)
def agent() -> Iterator[None]:
    yield from registered([s for s in agent_specs() if s.name not in {x.name for x in registry.all_specs()}])


def _execute(engine: Engine, quote_id: int, now: datetime, server: ScriptedServer | None = None,
             settings: Settings | None = None) -> RunOutcome:
    with session_scope(engine) as session:
        run = runs.create_run(session, "quote_followup", "manual", "quote", quote_id)
        assert run is not None
        run_id = run.id
    return execute_run(run_id, now=now, engine=engine, settings=settings or llm_settings(),
                       http_client=(server or ScriptedServer()).client())


def pipelines_of(session: Session) -> dict[str, int]:
    """The scenario pipelines, created by the first test that needs them."""
    found = {name: pid for pid, name in session.execute(select(Pipeline.id, Pipeline.name))}
    return found if "Enterprise" in found else pipelines(session)


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_nudge_waits_for_the_reps_approval_is_sent_once_and_the_next_window_nudges_again(engine: Engine) -> None:
    with session_scope(engine) as session:
        built = build(session, Scenario("sent 6 days ago", "nudge", "w1", sent_days_ago=6), NOW,
                      pipelines(session), 1)
    server = ScriptedServer(reply(NUDGE))
    first = _execute(engine, built.quote_id, NOW, server)
    assert first.status == "waiting_review", first.error
    assert "<<< customer data" in server.user_text() and "Customer 1 Ltd" in server.user_text()
    with session_scope(engine) as session:
        [draft] = session.scalars(select(Draft).where(Draft.subject_id == built.quote_id)).all()
        assert (draft.status, draft.body, draft.prompt_ref, draft.fallback) == (
            "pending_review", NUDGE, "quote_followup.nudge@2", False)
        assert draft.idempotency_key == f"quote_followup:quote:{built.quote_id}:nudge:w1"
        assert draft.recipient == "dana1@customer1.test"
        [task] = session.scalars(select(Task).where(Task.agent_run_id == first.run_id)).all()
        assert (task.assignee_id, task.priority, task.source) == (built.rep_id, TaskPriority.normal, TaskSource.agent)
        approval = session.scalars(select(Approval).where(Approval.draft_id == draft.id)).one()
        assert approval.reviewer_id == built.rep_id
        assert _count(session, MailMessage, MailMessage.draft_id == draft.id) == 0
        approval_id, draft_id = approval.id, draft.id

    result = approvals.decide(approval_id, "approve", built.rep_id, engine=engine, settings=llm_settings(), now=NOW)
    assert (result.status, result.run_status) == ("approved", "succeeded")
    for later in (NOW + timedelta(hours=2), NOW + timedelta(days=3)):  # the same day, and later in the window
        again = _execute(engine, built.quote_id, later)  # no scripted reply: a model call would fail the test
        assert again.status in ("succeeded", "skipped") and again.llm_calls == 0, again.error
    with session_scope(engine) as session:
        assert session.scalars(select(MailMessage.draft_id)).all() == [draft_id]
        assert _count(session, Draft, Draft.subject_id == built.quote_id) == 1
        assert _count(session, Task, Task.idempotency_key.like(f"quote_followup:quote:{built.quote_id}:%")) == 1
        assert due_quotes(session, NOW + timedelta(days=3)) == []
        assert due_quotes(session, NOW + timedelta(days=4)) == [built.quote_id]  # 10 days old: window w2

    second = _execute(engine, built.quote_id, NOW + timedelta(days=4), ScriptedServer(reply(NUDGE)))
    assert second.status == "waiting_review", second.error
    with session_scope(engine) as session:
        keys = session.scalars(select(Draft.idempotency_key).where(Draft.subject_id == built.quote_id)
                               .order_by(Draft.id)).all()
        assert [k.rsplit(":", 1)[1] for k in keys] == ["w1", "w2"]


def test_the_quotes_rep_reviews_the_nudge_even_when_the_account_has_a_csm(engine: Engine) -> None:
    with session_scope(engine) as session:
        built = build(session, Scenario("sent 6 days ago", "nudge", "w1", sent_days_ago=6), NOW,
                      pipelines_of(session), 60)
        csm = User(email="csm60@seller.test", full_name="Casey CSM", role=Role.csm)
        session.add(csm)
        session.flush()
        account_id = session.get_one(Quote, built.quote_id).account_id
        session.get_one(Account, account_id).csm_id = csm.id
        csm_id = csm.id
    outcome = _execute(engine, built.quote_id, NOW, ScriptedServer(reply(NUDGE)))
    assert outcome.status == "waiting_review", outcome.error
    with session_scope(engine) as session:
        approval = session.scalars(select(Approval).join(Draft, Draft.id == Approval.draft_id)
                                   .where(Draft.subject_id == built.quote_id)).one()
        assert approval.reviewer_id == built.rep_id != csm_id


def test_near_validity_escalates_and_a_discount_never_reaches_the_draft(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = pipelines_of(session)
        built = build(session, Scenario("valid 2 more days", "escalate", "final", sent_days_ago=3, valid_in_days=2),
                      NOW, ids, 2)
    offer = "Hi Dana2, if you sign this week we give you a 15% discount on quote Q-2. Rep 2"
    server = ScriptedServer(reply(offer), reply(offer))
    outcome = _execute(engine, built.quote_id, NOW, server)
    assert outcome.status == "waiting_review", outcome.error
    with session_scope(engine) as session:
        draft = session.scalars(select(Draft).where(Draft.subject_id == built.quote_id)).one()
        assert draft.fallback and "discount" not in draft.body.lower() and "expires soon" in draft.body
        assert draft.idempotency_key.endswith(":nudge:final")
        task = session.scalars(select(Task).where(Task.agent_run_id == outcome.run_id)).one()
        assert task.priority is TaskPriority.high and task.due_at == NOW and "expires in 2 day(s)" in task.title
        assert _count(session, LlmCall, LlmCall.run_id == outcome.run_id) == 1


def test_a_quote_without_a_contact_email_gets_the_task_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        built = build(session, Scenario("no email", "task", "w1", sent_days_ago=6, email=False), NOW,
                      pipelines_of(session), 3)
    outcome = _execute(engine, built.quote_id, NOW)
    assert outcome.status == "succeeded" and outcome.llm_calls == 0, outcome.error
    with session_scope(engine) as session:
        assert _count(session, Draft, Draft.subject_id == built.quote_id) == 0
        task = session.scalars(select(Task).where(Task.agent_run_id == outcome.run_id)).one()
        assert "no nudge was drafted" in (task.description or "")


def test_the_scenario_suite_through_eval_run_gets_exactly_the_expected_nudges_and_no_duplicates() -> None:
    result = CliRunner().invoke(evals_cli, ["run", "quote_followup", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["mismatches"] == []
    assert figures["nudges"]["precision"] == figures["nudges"]["recall"] == 1.0
    assert figures["nudges"]["expected"] >= 10
    assert figures["escalations"]["precision"] == figures["escalations"]["recall"] == 1.0
    assert figures["window_accuracy"] == 1.0
    assert (figures["duplicates"], figures["repeated_run_outputs"], figures["due_after_runs"]) == (0, 0, 0)
    assert figures["llm_outcomes"] == {"over_budget": figures["nudges"]["predicted"]}
    assert figures["mail_stored"] == figures["approved"] == figures["nudges"]["predicted"]


@pytest.fixture
def cli(scratch_db: object, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", '["agents.quote_followup"]')
    monkeypatch.setenv("SALESAGENTS_LLM_BUDGETS", '{"quote_followup": {"per_run": 0}}')
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("run")(agents_cli.run)
    app.command("runs")(agents_cli.runs)
    return app


def test_run_all_on_a_seeded_crm_nudges_the_due_quotes_once(cli: typer.Typer) -> None:
    now = datetime.now(UTC)
    scenarios = (Scenario("due", "nudge", "w1", sent_days_ago=6), Scenario("young", "none", sent_days_ago=1),
                 Scenario("accepted", "none", status="accepted", sent_days_ago=9),
                 Scenario("near validity", "escalate", "final", sent_days_ago=2, valid_in_days=1))
    with session_scope() as session:
        built = build_all(session, now, scenarios)
    runner = CliRunner()
    first = runner.invoke(cli, ["run", "quote_followup", "--all"])
    assert first.exit_code == 0, first.output
    assert "2 waiting_review" in first.output and first.output.count("draft #") == 2, first.output
    with session_scope() as session:
        nudged = set(session.scalars(select(Draft.subject_id)))
        assert nudged == {built[0].quote_id, built[3].quote_id}
        assert _count(session, Task, Task.priority == TaskPriority.high) == 1
    again = runner.invoke(cli, ["run", "quote_followup", "--all"])
    assert again.exit_code == 0 and "no subjects to run on" in again.output, again.output
    forced = runner.invoke(cli, ["run", "quote_followup", "--subject", str(built[0].quote_id)])
    assert forced.exit_code == 0, forced.output
    with session_scope() as session:
        assert _count(session, Draft) == 2 and _count(session, Task) == 2


def test_unknown_quote_fails_the_run_naming_it(engine: Engine) -> None:
    outcome = _execute(engine, 987654, NOW)
    assert outcome.status == "failed" and "quote" in (outcome.error or "")



def test_the_daily_schedule_creates_one_run_per_due_quote_and_slot(engine: Engine) -> None:
    later = NOW + timedelta(days=40)
    settings = llm_settings(llm_budgets={"quote_followup": {"per_run": 0}})
    with session_scope(engine) as session:
        ids = pipelines_of(session)
        due = build(session, Scenario("due", "nudge", "w1", sent_days_ago=5), later, ids, 40)
        young = build(session, Scenario("young", "none", sent_days_ago=2), later, ids, 41)
    with session_scope(engine) as session:
        first = schedule_runs(session, "quote_followup", later, settings)
        subjects = {r.subject_id for r in session.scalars(select(AgentRun).where(AgentRun.id.in_(first.run_ids)))}
        assert due.quote_id in subjects and young.quote_id not in subjects
        assert subjects == set(due_quotes(session, later))
        assert first.slot == f"{later:%Y-%m-%d}T07:30Z"
    with session_scope(engine) as session:
        assert schedule_runs(session, "quote_followup", later, settings).run_ids == []  # same slot: nothing new
    outcomes = [execute_run(run_id, now=later, engine=engine, settings=settings) for run_id in first.run_ids]
    assert {o.status for o in outcomes} <= {"waiting_review", "succeeded"}, [o.error for o in outcomes]
    with session_scope(engine) as session:
        assert schedule_runs(session, "quote_followup", later + timedelta(days=1), settings).run_ids == []
