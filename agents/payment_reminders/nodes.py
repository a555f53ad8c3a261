"""Payment Reminders steps: decide from the invoice's dates and balance (tools.payment_reminders), a call task
for the account manager at the final level, and a reminder that waits for the account manager's approval.

Every output is keyed by the reminder level (`r1`, `r2`, ...) instead of the input hash, so an invoice gets at
most one reminder per level however often, and with whatever inputs, the agent runs. A payment on the invoice
(`payment.received`) runs the agent for it too: if nothing is left to pay while a reminder still waits for review,
its reviewer gets a task to reject it, so a customer who paid is not reminded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.payment_reminders.state import ReminderState
from agents.runtime.approval import propose_draft
from agents.runtime.context import RunContext
from core.config import get_settings
from core.errors import NotFound
from core.models import User
from core.models.enums import TaskPriority
from core.repositories import payment_reminders as repo
from core.repositories.outputs import written_keys
from core.services import outputs
from core.services.outputs import Origin
from tools.payment_reminders import letters
from tools.payment_reminders.selection import AGENT, REMINDER, SUBJECT, TASK, billing_contact, decide, output_key

EVENTS = ("payment.received",)
PAID_TASK = "withdraw-task"


def _already(session: Session, invoice_id: int, level: int) -> bool:
    """This level's reminder (or its call task) exists: the level is done, whatever its review decided."""
    return bool(written_keys(session, [output_key(invoice_id, REMINDER, level), output_key(invoice_id, TASK, level)]))


def _pending_prefix(invoice_id: int) -> str:
    return Origin(0, AGENT, SUBJECT, invoice_id, "").key(REMINDER).rsplit(":", 1)[0] + ":"


def gather(session: Session, invoice_id: int | None, now: datetime) -> dict[str, Any]:
    """The invoice's facts and today's decision; the decision depends on the day, not the hour."""
    rows = repo.invoice_facts(session, now.date(), [invoice_id]) if invoice_id is not None else []
    if not rows:
        raise NotFound("invoice", invoice_id)
    row = rows[0]
    decision = decide(row, now.date(), get_settings().payment_reminder_days)
    action = decision.action
    if action == "remind" and _already(session, row["id"], decision.level):
        action = "none"
    balance = Decimal(row["amount"]) - Decimal(row["paid"] or 0)
    pending = repo.pending_reminders(session, _pending_prefix(row["id"]))
    if pending and (row["status"] != "open" or balance <= 0):  # paid (or voided) while a reminder waits
        action = "withdraw"
    contact = billing_contact(repo.contacts_with_email(session, row["account_id"])) if action == "remind" else None
    manager_id = row["account_manager_id"] or row["csm_id"]
    manager = session.get(User, manager_id) if manager_id else None
    return {"invoice_id": row["id"], "number": row["number"], "status": str(row["status"]), "action": action,
            "reason": decision.reason, "level": decision.level, "final": decision.final,
            "days_overdue": decision.days_overdue, "balance": str(balance), "currency": row["currency"],
            "issued_on": row["issued_on"].isoformat(), "due_on": row["due_on"].isoformat(),
            "account_id": row["account_id"], "account_name": row["account_name"], "manager_id": manager_id,
            "sender_name": manager.full_name if manager is not None else "Accounts receivable",
            "contact": contact, "pending": pending}


def due_invoices(session: Session, now: datetime) -> list[int]:
    """Open overdue invoices whose current level has no reminder yet: the daily sweep's subjects."""
    days = get_settings().payment_reminder_days
    return [int(row["id"]) for row in repo.invoice_facts(session, now.date())
            if (d := decide(row, now.date(), days)).action == "remind" and not _already(session, row["id"], d.level)]


def route_start(state: ReminderState) -> str:
    inputs = state["inputs"]
    if inputs["action"] == "withdraw" or (inputs["action"] == "remind" and (inputs["final"] or not inputs["contact"])):
        return "task"
    return "review" if inputs["action"] == "remind" else "__end__"


def route_task(state: ReminderState) -> str:
    inputs = state["inputs"]
    return "review" if inputs["action"] == "remind" and inputs["contact"] else "__end__"


def task(state: ReminderState, runtime: Runtime[RunContext]) -> ReminderState:
    """A task for the account manager: call at the final level, find a billing contact when none has an email,
    or reject reminders still pending for an invoice that has been paid meanwhile."""
    ctx, inputs = runtime.context, state["inputs"]
    amount = f"{Decimal(inputs['balance']):,.2f} {inputs['currency']}"
    if inputs["action"] == "withdraw":
        ids = ", ".join(f"#{p['approval_id']}" for p in inputs["pending"])
        origin, purpose = replace(ctx.origin, input_hash="paid"), PAID_TASK
        title = f"Invoice {inputs['number']} is paid: reject the pending payment reminder ({ids})"
        description, priority, due = (f"{inputs['account_name']} has nothing left to pay on invoice "
                                      f"{inputs['number']}; the reminder waiting in your inbox must not be sent."), \
            TaskPriority.high, ctx.now
        assignee = inputs["pending"][0]["reviewer_id"] or inputs["manager_id"]
    else:
        origin, purpose = replace(ctx.origin, input_hash=f"r{inputs['level']}"), TASK
        no_contact = not inputs["contact"]
        title = (f"No billing contact with an email at {inputs['account_name']}: invoice {inputs['number']} "
                 f"({amount}) is {inputs['days_overdue']} days overdue" if no_contact else
                 f"Call {inputs['account_name']}: invoice {inputs['number']} ({amount}) is "
                 f"{inputs['days_overdue']} days overdue")
        description = inputs["reason"] + ("; add a contact with an email (tag one `billing`) so reminders can go out"
                                          if no_contact else "; the final reminder waits for your approval")
        priority = TaskPriority.high if inputs["final"] else TaskPriority.normal
        due, assignee = ctx.now + timedelta(days=0 if inputs["final"] else 1), inputs["manager_id"]
    with ctx.transaction() as session:
        row = outputs.write_task(session, origin, purpose=purpose, title=title, assignee_id=assignee,
                                 description=description, due_at=due, priority=priority,
                                 account_id=inputs["account_id"])
        return {"task_id": row.id}


def review(state: ReminderState, runtime: Runtime[RunContext]) -> ReminderState:
    """Nothing reaches the customer before the account manager (else the CSM) approves or edits the reminder."""
    inputs = state["inputs"]
    contact = inputs["contact"]
    letter = letters.write(language=contact["language"], name=contact["first_name"], number=inputs["number"],
                           amount=Decimal(inputs["balance"]), currency=inputs["currency"],
                           issued=datetime.fromisoformat(inputs["issued_on"]).date(),
                           due=datetime.fromisoformat(inputs["due_on"]).date(), days_overdue=inputs["days_overdue"],
                           level=inputs["level"], final=inputs["final"], sender=inputs["sender_name"])
    ctx = replace(runtime.context, input_hash=f"r{inputs['level']}")
    applied = propose_draft(ctx, purpose=REMINDER, recipient=contact["email"], subject=letter.subject,
                            body=letter.body, contact_id=contact["id"], account_id=inputs["account_id"],
                            reviewer_id=inputs["manager_id"],
                            context={"situation": f"invoice {inputs['number']} {inputs['days_overdue']} days overdue, "
                                                  f"{inputs['balance']} {inputs['currency']} open, reminder "
                                                  f"{inputs['level']}{' (final)' if inputs['final'] else ''}",
                                     "invoice_id": inputs["invoice_id"], "level": inputs["level"]})
    return {"review": {"approval_id": applied.approval_id, "status": applied.status,
                       "draft_status": applied.draft_status, "mail_status": applied.mail_status}}
