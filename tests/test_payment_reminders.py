"""Payment Reminders: the level rules, the billing contact, the letters, one reminder per level through the real
executor and approvals, the call task at the final level, the daily schedule, and a payment that arrives while a
reminder waits for review."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from agents import registry
from agents.payment_reminders import agent_specs
from agents.payment_reminders.nodes import due_invoices
from agents.runtime import runs
from agents.runtime.executor import RunOutcome, execute_run
from agents.schedules import schedule_runs
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.models import AgentRun, Approval, Draft, MailMessage, Task
from core.models.enums import BuyingRole, Role, TaskPriority
from core.services import approvals, engagement
from tests import factories
from tests.conftest import committing_engine, registered
from tools.payment_reminders import letters
from tools.payment_reminders.selection import billing_contact, decide

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
DAYS = (3, 14, 30)


def invoice(overdue: int, *, status: str = "open", amount: str = "1000", paid: str = "0",
            tags: list[str] | None = None) -> dict[str, Any]:
    return {"status": status, "amount": Decimal(amount), "paid": Decimal(paid), "currency": "EUR",
            "due_on": TODAY - timedelta(days=overdue), "account_tags": tags or []}


@pytest.mark.parametrize(("facts", "action", "level", "final"), [
    (invoice(2), "none", 0, False),
    (invoice(3), "remind", 1, False),
    (invoice(13), "remind", 1, False),
    (invoice(14), "remind", 2, False),
    (invoice(45), "remind", 3, True),
    (invoice(20, status="paid"), "none", 0, False),
    (invoice(20, status="void"), "none", 0, False),
    (invoice(20, paid="1000"), "none", 0, False),
    (invoice(20, tags=["vip", "no-payment-reminders"]), "none", 0, False),
    (invoice(-5), "none", 0, False),
])
def test_levels(facts: dict[str, Any], action: str, level: int, final: bool) -> None:
    decision = decide(facts, TODAY, DAYS)
    assert (decision.action, decision.level, decision.final) == (action, level, final), decision.reason


def test_a_partial_payment_leaves_the_balance_to_remind() -> None:
    decision = decide(invoice(20, amount="1000", paid="250"), TODAY, DAYS)
    assert (decision.balance, decision.window, decision.days_overdue) == (Decimal("750"), "r2", 20)
    with pytest.raises(ValueError, match="payment_reminder_days"):
        Settings(payment_reminder_days=[14, 14])


def test_the_billing_contact_is_tagged_else_a_finance_title_else_the_decision_maker() -> None:
    def c(cid: int, **kw: Any) -> dict[str, Any]:
        return {"id": cid, "tags": [], "title": None, "buying_role": None} | kw
    dm, cfo, tagged, user = (c(1, buying_role=BuyingRole.decision_maker), c(2, title="Chief Financial Officer"),
                             c(3, tags=["billing"]), c(4, buying_role=BuyingRole.user))
    assert billing_contact([dm, cfo, tagged, user]) == tagged
    assert billing_contact([dm, cfo, user]) == cfo
    assert billing_contact([user, dm]) == dm
    assert billing_contact([user]) == user and billing_contact([]) is None


def test_letters_state_the_exact_amount_number_and_dates_in_the_contacts_language() -> None:
    first = letters.write(language="en", name="Dana", number="INV-7", amount=Decimal("1250.5"), currency="EUR",
                          issued=date(2026, 2, 1), due=date(2026, 3, 3), days_overdue=7, level=1, final=False,
                          sender="Alex Manager")
    assert first.subject == "Reminder: invoice INV-7 is overdue"
    assert first.body.startswith("Hi Dana,\n") and first.body.rstrip().endswith("Alex Manager")
    assert "invoice INV-7 of 2026-02-01 for 1,250.50 EUR was due on 2026-03-03" in first.body
    final = letters.write(language="de-AT", name=None, number="INV-7", amount=Decimal("10"), currency="EUR",
                          issued=date(2026, 1, 1), due=date(2026, 1, 31), days_overdue=38, level=3, final=True,
                          sender="Alex")
    assert final.language == "de" and final.subject == "Letzte Mahnung: Rechnung INV-7"
    assert "seit 38 Tagen überfällig" in final.body and "{{" not in final.body
    assert letters.write(language="pt", name="Ana", number="X", amount=Decimal(1), currency="USD",
                         issued=TODAY, due=TODAY, days_overdue=3, level=2, final=False, sender="S").language == "en"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("payrem")


@pytest.fixture(scope="module", autouse=True)
def agent(engine: Engine) -> Iterator[None]:
    yield from registered([s for s in agent_specs() if s.name not in {x.name for x in registry.all_specs()}])


@dataclass
class Built:
    invoice_id: int
    manager_id: int
    contact_email: str | None


def _build(engine: Engine, overdue: int, *, amount: str = "1000", paid: str | None = None,
           email: bool = True, tags: list[str] | None = None) -> Built:
    with session_scope(engine) as session:
        manager = factories.user(session, role=Role.rep, full_name="Alex Manager")
        account = factories.account(session, name="Acme Billing GmbH", account_manager_id=manager.id,
                                    tags=tags or [])
        n = account.id
        factories.contact(session, email=f"boss{n}@acme.test" if email else None, account_id=account.id,
                          buying_role=BuyingRole.decision_maker)
        factories.contact(session, email=f"ap{n}@acme.test" if email else None, account_id=account.id,
                          first_name="Pat", title="Accounts Payable Clerk", language="en")
        row = factories.invoice(session, account.id, paid=Decimal(paid) if paid else None, amount=Decimal(amount),
                                currency="EUR", issued_on=TODAY - timedelta(days=overdue + 30),
                                due_on=TODAY - timedelta(days=overdue))
        return Built(row.id, manager.id, f"ap{n}@acme.test" if email else None)


def _execute(engine: Engine, invoice_id: int, now: datetime, trigger: str = "manual") -> RunOutcome:
    with session_scope(engine) as session:
        run = runs.create_run(session, "payment_reminders", trigger, "invoice", invoice_id)
        assert run is not None
        run_id = run.id
    return execute_run(run_id, now=now, engine=engine, settings=get_settings())


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_reminder_waits_for_the_account_manager_is_sent_once_and_the_next_level_reminds_again(
        engine: Engine) -> None:
    built = _build(engine, overdue=5, paid="250")
    first = _execute(engine, built.invoice_id, NOW)
    assert first.status == "waiting_review", first.error
    with session_scope(engine) as session:
        [draft] = session.scalars(select(Draft).where(Draft.subject_id == built.invoice_id)).all()
        assert draft.recipient == built.contact_email  # the accounts-payable contact, not the decision maker
        assert draft.subject.startswith("Reminder: invoice INV-T") and "750.00 EUR" in draft.body
        assert draft.idempotency_key == f"payment_reminders:invoice:{built.invoice_id}:reminder:r1"
        approval = session.scalars(select(Approval).where(Approval.draft_id == draft.id)).one()
        assert approval.reviewer_id == built.manager_id
        assert _count(session, Task, Task.idempotency_key.like(f"payment_reminders:invoice:{built.invoice_id}:%")) == 0
        approval_id, draft_id = approval.id, draft.id

    result = approvals.decide(approval_id, "approve", built.manager_id, engine=engine, now=NOW)
    assert (result.status, result.run_status) == ("approved", "succeeded")
    for later in (NOW + timedelta(hours=3), NOW + timedelta(days=5)):  # the same day, and later in level 1
        again = _execute(engine, built.invoice_id, later)
        assert again.status in ("succeeded", "skipped"), again.error
    with session_scope(engine) as session:
        assert session.scalars(select(MailMessage.draft_id).where(MailMessage.draft_id == draft_id)).all() == [
            draft_id]
        assert _count(session, Draft, Draft.subject_id == built.invoice_id) == 1
        assert built.invoice_id not in due_invoices(session, NOW + timedelta(days=8))  # 13 days: still level 1
        assert built.invoice_id in due_invoices(session, NOW + timedelta(days=9))  # 14 days: level 2

    second = _execute(engine, built.invoice_id, NOW + timedelta(days=9))
    assert second.status == "waiting_review", second.error
    with session_scope(engine) as session:
        keys = session.scalars(select(Draft.idempotency_key).where(Draft.subject_id == built.invoice_id)
                               .order_by(Draft.id)).all()
        assert [k.rsplit(":", 1)[1] for k in keys] == ["r1", "r2"]


def test_the_final_reminder_also_asks_the_account_manager_to_call(engine: Engine) -> None:
    built = _build(engine, overdue=31)
    outcome = _execute(engine, built.invoice_id, NOW)
    assert outcome.status == "waiting_review", outcome.error
    with session_scope(engine) as session:
        draft = session.scalars(select(Draft).where(Draft.subject_id == built.invoice_id)).one()
        assert draft.subject.startswith("Final reminder") and "31 days overdue" in draft.body
        task = session.scalars(select(Task).where(Task.agent_run_id == outcome.run_id)).one()
        assert (task.assignee_id, task.priority, task.due_at) == (built.manager_id, TaskPriority.high, NOW)
        assert task.title.startswith("Call Acme Billing GmbH: invoice INV-T") and "1,000.00 EUR" in task.title


def test_an_account_without_a_contact_email_gets_a_task_instead(engine: Engine) -> None:
    built = _build(engine, overdue=4, email=False)
    outcome = _execute(engine, built.invoice_id, NOW)
    assert outcome.status == "succeeded", outcome.error
    with session_scope(engine) as session:
        assert _count(session, Draft, Draft.subject_id == built.invoice_id) == 0
        task = session.scalars(select(Task).where(Task.agent_run_id == outcome.run_id)).one()
        assert task.title.startswith("No billing contact with an email") and "tag one `billing`" in (
            task.description or "")


def test_a_payment_while_the_reminder_waits_asks_the_reviewer_to_reject_it(engine: Engine) -> None:
    built = _build(engine, overdue=6)
    assert _execute(engine, built.invoice_id, NOW).status == "waiting_review"
    with session_scope(engine) as session:
        engagement.record_payment(session, built.invoice_id, Decimal("1000"), TODAY)  # writes payment.received
        approval_id = session.scalars(select(Approval.id).join(Draft, Draft.id == Approval.draft_id)
                                      .where(Draft.subject_id == built.invoice_id)).one()
    paid = _execute(engine, built.invoice_id, NOW + timedelta(hours=1), trigger="event")
    assert paid.status == "succeeded", paid.error
    again = _execute(engine, built.invoice_id, NOW + timedelta(hours=2), trigger="event")
    assert again.status in ("succeeded", "skipped"), again.error
    with session_scope(engine) as session:
        tasks = session.scalars(select(Task).where(Task.idempotency_key.like(
            f"payment_reminders:invoice:{built.invoice_id}:withdraw-task:%"))).all()
        assert len(tasks) == 1
        assert tasks[0].assignee_id == built.manager_id and f"#{approval_id}" in tasks[0].title
        assert "is paid" in tasks[0].title and tasks[0].priority is TaskPriority.high
        assert built.invoice_id not in due_invoices(session, NOW + timedelta(days=30))


def test_the_daily_schedule_runs_once_per_due_invoice_and_skips_opted_out_accounts(engine: Engine) -> None:
    later = NOW + timedelta(days=100)
    due = _build(engine, overdue=-97)  # due 97 days from now: 3 days overdue on the later day
    young = _build(engine, overdue=-99)  # 1 day overdue then
    opted_out = _build(engine, overdue=110, tags=["no-payment-reminders"])
    with session_scope(engine) as session:
        first = schedule_runs(session, "payment_reminders", later, get_settings())
        subjects = set(session.scalars(select(AgentRun.subject_id).where(AgentRun.id.in_(first.run_ids))))
        assert due.invoice_id in subjects and not {young.invoice_id, opted_out.invoice_id} & subjects
        assert first.slot == f"{later:%Y-%m-%d}T08:00Z"
    with session_scope(engine) as session:
        assert schedule_runs(session, "payment_reminders", later, get_settings()).run_ids == []
