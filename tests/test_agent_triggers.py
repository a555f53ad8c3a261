"""Every real agent through its real trigger: an outbox event or a beat tick, Redis, a Celery worker, the database.

The agent tests call the executor directly; these prove the same agents are wired to the topics and schedules a
deployment relies on (the spec's `events`/`schedule`, the dispatcher, the worker's task), and that a second
dispatch or tick on unchanged data creates no new run and no new output. The worker is a real Celery worker (solo
pool, in a thread) on its own Redis database with every agent the product registers by default; drafting agents
talk to the embedded local model.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from sqlalchemy import func, select

from agents.celery_app import create_app
from agents.enqueue import DISPATCH_OUTBOX, SCHEDULE_AGENT
from core.config import get_settings
from core.db.engine import session_scope
from core.llm.factory import ModelConfig
from core.models import (
    AgentRun,
    AgentScore,
    Approval,
    Contact,
    Contract,
    Deal,
    Draft,
    OutboxEvent,
    Suggestion,
    Task,
    UsageSnapshot,
)
from core.models.enums import Lifecycle, Role
from core.services import engagement
from evals.deal_coach.scenarios import build_all, load_cases
from evals.quote_followup.scenarios import Scenario, build, pipelines
from tests import factories
from tests.celery_support import BrokerSpace, wait_for
from tests.lead_scoring_data import make_leads

pytest_plugins = ("tests.celery_fixtures", "tests.llm_fixtures")

DONE = ("succeeded", "failed", "skipped", "waiting_review")


class Finished:
    """Tasks the worker finished, by name (Celery's own task_postrun signal)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, sender: Any = None, task: Any = None, **_: Any) -> None:
        with self.lock:
            self.counts[task.name] += 1

    def count(self, name: str) -> int:
        with self.lock:
            return self.counts[name]


FINISHED = Finished()


@pytest.fixture
def worker(scratch_db: object, broker: BrokerSpace, local_llm: ModelConfig,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    monkeypatch.delenv("SALESAGENTS_AGENT_MODULES", raising=False)  # every agent the product ships
    monkeypatch.setenv("SALESAGENTS_EVENT_DEBOUNCE_S", "0")
    get_settings.cache_clear()
    app = create_app(get_settings())
    task_postrun.connect(FINISHED, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=60):
            yield app
    finally:
        task_postrun.disconnect(FINISHED)
        get_settings.cache_clear()


def _send_and_wait(app: Celery, name: str, *args: str) -> None:
    before = FINISHED.count(name)
    app.send_task(name, args=list(args), expires=60)
    wait_for(lambda: FINISHED.count(name) > before, 60, f"the worker to finish {name}")


def _runs(agent: str) -> list[AgentRun]:
    with session_scope() as session:
        return list(session.scalars(select(AgentRun).where(AgentRun.agent == agent).order_by(AgentRun.id)))


def _settled(agent: str, count: int) -> Callable[[], list[AgentRun] | None]:
    def check() -> list[AgentRun] | None:
        runs = _runs(agent)
        return runs if len(runs) >= count and all(r.status in DONE for r in runs) else None
    return check


def _dispatch_twice(app: Celery, agent: str) -> AgentRun:
    """Dispatch, wait for the one run, dispatch again: the event is consumed, no second run appears."""
    app.send_task(DISPATCH_OUTBOX, expires=60)
    (run,) = wait_for(_settled(agent, 1), 120, f"the {agent} run of the event")
    _send_and_wait(app, DISPATCH_OUTBOX)  # the event is dispatched: a second pass finds nothing to do
    assert _dispatched_all()
    assert [r.id for r in _runs(agent)] == [run.id]
    return run


def _dispatched_all() -> bool:
    with session_scope() as session:
        return not session.scalar(select(func.count()).select_from(OutboxEvent)
                                  .where(OutboxEvent.dispatched_at.is_(None)))


def test_a_new_lead_is_scored_by_the_lead_scorer_through_the_worker(worker: Celery) -> None:
    with session_scope() as session:
        make_leads(session, 80, seed=11)  # closed history (no events: backfill) to train the first model from
        lead_id = factories.lead(session, employees=1500, custom_fields={"site_visits": 11}).id
    run = _dispatch_twice(worker, "lead_scorer")
    assert (run.status, run.trigger, run.subject_id) == ("succeeded", "event", lead_id), run.error
    with session_scope() as session:
        scores = session.scalars(select(AgentScore).where(AgentScore.run_id == run.id)).all()
        assert [(s.subject_type, s.subject_id) for s in scores] == [("lead", lead_id)]
        assert 0 <= float(scores[0].score) <= 100


def test_a_new_contact_is_labeled_by_the_auto_labeler_through_the_worker(worker: Celery) -> None:
    with session_scope() as session:
        account_id = factories.account(session, employees=1200).id
        contact_id = engagement.create_contact(session, first_name="Vera", last_name="Chief",
                                               title="Chief Financial Officer", account_id=account_id).id
    run = _dispatch_twice(worker, "auto_labeler")
    assert (run.status, run.trigger, run.subject_type, run.subject_id) == (
        "succeeded", "event", "account", account_id), run.error
    with session_scope() as session:
        contact = session.get_one(Contact, contact_id)
        assert contact.buying_role is not None
        assert contact.custom_fields["auto_labels"]["buying_role"]["source"] == "rules"


def test_the_daily_quote_follow_up_tick_drafts_one_nudge_with_the_local_model(worker: Celery) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        built = build(session, Scenario("sent 6 days ago", "nudge", "w1", sent_days_ago=6), now, pipelines(session), 1)
    worker.send_task(SCHEDULE_AGENT, args=["quote_followup"], expires=60)
    (run,) = wait_for(_settled("quote_followup", 1), 240, "the scheduled quote follow-up run")
    assert (run.status, run.trigger, run.subject_id) == ("waiting_review", "schedule", built.quote_id), run.error
    assert run.llm_calls >= 1 and run.model
    _send_and_wait(worker, SCHEDULE_AGENT, "quote_followup")  # the same slot again: nothing new
    assert [r.id for r in _runs("quote_followup")] == [run.id]
    with session_scope() as session:
        (draft,) = session.scalars(select(Draft).where(Draft.run_id == run.id)).all()
        approval = session.scalars(select(Approval).where(Approval.draft_id == draft.id)).one()
        assert (draft.status, approval.status, approval.reviewer_id) == ("pending_review", "pending", built.rep_id)
        assert session.scalar(select(func.count()).select_from(Task).where(Task.agent_run_id == run.id)) == 1


def _one_run(agent: str, timeout_s: float = 240) -> AgentRun:
    (run,) = wait_for(_settled(agent, 1), timeout_s, f"the {agent} run")
    return run


def test_a_detractor_answer_gets_a_draft_a_csm_task_and_a_health_update_through_the_worker(worker: Celery) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        csm = factories.user(session, role=Role.csm, full_name="Sam Carter")
        account = factories.account(session, name="Acme Trigger", csm_id=csm.id, lifecycle=Lifecycle.customer)
        contact = factories.contact(session, email="maria@acme-trigger.test", account_id=account.id,
                                    first_name="Maria")
        factories.contract(session, account.id, start_date=(now - timedelta(days=200)).date(),
                           end_date=(now + timedelta(days=165)).date())
        response = engagement.record_nps_response(session, account_id=account.id, score=3, contact_id=contact.id,
                                                  comment="Exports keep failing and support is slow.")
        ids = (csm.id, account.id, response.id)
    worker.send_task(DISPATCH_OUTBOX, expires=60)
    reply, health = _one_run("nps_followup"), _one_run("health_monitor")
    assert (reply.status, reply.trigger, reply.subject_id) == ("waiting_review", "event", ids[2]), reply.error
    assert (health.status, health.trigger, health.subject_id) == ("succeeded", "event", ids[1]), health.error
    with session_scope() as session:
        (draft,) = session.scalars(select(Draft).where(Draft.run_id == reply.id)).all()
        assert draft.status == "pending_review" and draft.recipient == "maria@acme-trigger.test"
        assert draft.context["prompt_inputs"]["comment"].startswith("Exports keep failing")
        (task,) = session.scalars(select(Task).where(Task.agent_run_id == reply.id)).all()
        assert task.assignee_id == ids[0] and task.due_at is not None and task.due_at > now
        score = session.scalars(select(AgentScore).where(AgentScore.run_id == health.id)).one()
        assert (score.subject_type, score.subject_id, score.purpose) == ("account", ids[1], "health")
    _send_and_wait(worker, DISPATCH_OUTBOX)
    assert len(_runs("nps_followup")) == 1 and len(_runs("health_monitor")) == 1


def test_the_daily_deal_coach_tick_coaches_a_stalled_deal_with_the_local_model(worker: Celery) -> None:
    now = datetime.now(UTC)
    case = next(c for c in load_cases() if c.name == "demo with users only")
    with session_scope() as session:
        (deal_id,) = build_all(session, now, [case])
    worker.send_task(SCHEDULE_AGENT, args=["deal_coach"], expires=60)
    runs = wait_for(lambda: [r for r in _runs("deal_coach") if r.subject_id == deal_id and r.status in DONE],
                    300, "the scheduled Deal Coach run")
    (run,) = runs
    assert (run.status, run.trigger) == ("succeeded", "schedule"), run.error
    assert run.llm_calls >= 1
    # The deal's own activity events then reach the coach too: same facts, so those runs skip, with no model call.
    _send_and_wait(worker, DISPATCH_OUTBOX)
    later = wait_for(lambda: (lambda rs: rs if all(r.status in DONE for r in rs) else None)(
        [r for r in _runs("deal_coach") if r.subject_id == deal_id and r.id != run.id]), 120, "the event runs")
    assert all(r.status == "skipped" and r.llm_calls == 0 for r in later), [(r.status, r.error) for r in later]
    with session_scope() as session:
        (suggestion,) = session.scalars(select(Suggestion).where(Suggestion.run_id == run.id)).all()
        assert (suggestion.subject_type, suggestion.subject_id) == ("deal", deal_id)
        assert "no_decision_maker" in str(suggestion.evidence)
        owner = session.get_one(Deal, deal_id).owner_id
        assert owner in session.scalars(select(Task.assignee_id).where(Task.agent_run_id == run.id)).all()


def test_the_weekly_upsell_and_daily_renewal_ticks_through_the_worker(worker: Celery) -> None:
    today = datetime.now(UTC).date()
    with session_scope() as session:
        csm = factories.user(session, role=Role.csm)
        account = factories.account(session, lifecycle=Lifecycle.customer, csm_id=csm.id,
                                    account_manager_id=factories.user(session).id)
        session.add(Contract(account_id=account.id, plan="Pro", start_date=today - timedelta(days=340),
                             end_date=today + timedelta(days=25), arr=Decimal("12000"), seat_limit=50))
        session.add(UsageSnapshot(account_id=account.id, captured_on=today - timedelta(days=2), logins=400,
                                  active_users=47, seats_used=48))
        account_id = account.id
    worker.send_task(SCHEDULE_AGENT, args=["upsell_detector"], expires=60)
    worker.send_task(SCHEDULE_AGENT, args=["renewals"], expires=60)
    upsell, renewal = _one_run("upsell_detector"), _one_run("renewals")
    assert (upsell.status, upsell.trigger, upsell.subject_id) == ("succeeded", "schedule", account_id), upsell.error
    assert (renewal.status, renewal.trigger) == ("succeeded", "schedule"), renewal.error
    with session_scope() as session:
        (suggestion,) = session.scalars(select(Suggestion).where(Suggestion.run_id == upsell.id)).all()
        assert "seat_pressure" in str(suggestion.evidence)
        renewal_deals = session.scalars(select(Deal).where(Deal.account_id == account_id)).all()
        assert len(renewal_deals) == 1 and renewal_deals[0].owner_id == csm.id
    _send_and_wait(worker, SCHEDULE_AGENT, "upsell_detector")  # the same weekly slot: nothing new
    assert len(_runs("upsell_detector")) == 1


def test_the_payment_reminder_tick_drafts_a_reminder_and_a_payment_event_withdraws_it(worker: Celery) -> None:
    today = datetime.now(UTC).date()
    with session_scope() as session:
        manager = factories.user(session, full_name="Alex Manager")
        account = factories.account(session, name="Late Payer Ltd", account_manager_id=manager.id)
        factories.contact(session, email="ap@late-payer.test", account_id=account.id, first_name="Pat",
                          title="Accounts Payable", tags=["billing"])
        invoice = factories.invoice(session, account.id, amount=Decimal("480"), issued_on=today - timedelta(days=40),
                                    due_on=today - timedelta(days=10))
        ids = (manager.id, invoice.id)
    worker.send_task(SCHEDULE_AGENT, args=["payment_reminders"], expires=60)
    run = _one_run("payment_reminders")
    assert (run.status, run.trigger, run.subject_id) == ("waiting_review", "schedule", ids[1]), run.error
    with session_scope() as session:
        (draft,) = session.scalars(select(Draft).where(Draft.run_id == run.id)).all()
        assert draft.recipient == "ap@late-payer.test" and "480.00 USD" in draft.body
        assert session.scalars(select(Approval.reviewer_id).where(Approval.draft_id == draft.id)).one() == ids[0]
        engagement.record_payment(session, ids[1], Decimal("480"), today)  # paid while the reminder waits
    worker.send_task(DISPATCH_OUTBOX, expires=60)
    paid = wait_for(lambda: [r for r in _runs("payment_reminders") if r.trigger == "event" and r.status in DONE],
                    120, "the payment event's run")
    assert [(r.status, r.subject_id) for r in paid] == [("succeeded", ids[1])], [r.error for r in paid]
    with session_scope() as session:
        (task,) = session.scalars(select(Task).where(Task.agent_run_id == paid[0].id)).all()
        assert task.assignee_id == ids[0] and task.title.startswith("Invoice INV-T")
    _send_and_wait(worker, SCHEDULE_AGENT, "payment_reminders")  # paid: the next tick has nothing to remind
    assert len(_runs("payment_reminders")) == 2
