"""Writes that later issues' agents react to: contacts, activities, tasks, NPS responses, payments.

Each emits its outbox event in the caller's transaction, so an event exists if and only if the change
committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Activity, Contact, ContactEmail, ContactPhone, Invoice, NpsResponse, Payment, Task
from core.models.enums import ActivityKind, InvoiceStatus, TaskSource
from core.repositories import events
from core.repositories import finance as finance_repo
from core.repositories import tasks as task_repo
from core.services.references import ensure_of_account
from core.services.snapshot import snapshot


def create_contact(session: Session, *, first_name: str, last_name: str = "", emails: Sequence[str] = (),
                   phones: Sequence[str] = (), actor: str = "system", **fields: Any) -> Contact:
    if not first_name.strip() and not last_name.strip():
        raise InvalidInput("first_name", "a contact needs a name")
    for i, email in enumerate(emails):
        if "@" not in email:
            raise InvalidInput(f"emails[{i}]", f"{email!r} is not an email address")
    contact = Contact(first_name=first_name.strip(), last_name=last_name.strip(), **fields)
    session.add(contact)
    session.flush()
    for i, email in enumerate(dict.fromkeys(e.strip() for e in emails)):
        session.add(ContactEmail(contact_id=contact.id, email=email, is_primary=i == 0))
    for i, phone in enumerate(phones):
        session.add(ContactPhone(contact_id=contact.id, phone=phone, is_primary=i == 0))
    session.flush()
    events.add_event(session, "contact.created", "contact", contact.id, {"account_id": contact.account_id})
    events.add_audit(session, actor=actor, action="create", entity_type="contact", entity_id=contact.id,
                     after=snapshot(contact))
    return contact


def unsubscribe(session: Session, contact_id: int, *, now: datetime | None = None, actor: str = "system") -> Contact:
    """Consent is withdrawn at once: agents must never draft outreach to this contact again."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact", contact_id)
    now = now or datetime.now(UTC)
    before = snapshot(contact, ["email_consent", "unsubscribed_at"])
    contact.email_consent = False
    contact.unsubscribed_at = now
    contact.consent_updated_at = now
    session.flush()
    events.add_audit(session, actor=actor, action="unsubscribe", entity_type="contact", entity_id=contact.id,
                     before=before, after=snapshot(contact, ["email_consent", "unsubscribed_at"]))
    return contact


def log_activity(session: Session, *, kind: ActivityKind, subject: str, occurred_at: datetime | None = None,
                 **links_and_fields: Any) -> Activity:
    links = ("lead_id", "contact_id", "account_id", "deal_id")
    if not any(links_and_fields.get(k) for k in links):
        raise InvalidInput("activity", "link it to at least one of lead, contact, account or deal")
    activity = Activity(kind=kind, subject=subject, occurred_at=occurred_at or datetime.now(UTC),
                        **links_and_fields)
    session.add(activity)
    session.flush()
    events.add_event(session, "activity.logged", "activity", activity.id,
                     {k: links_and_fields.get(k) for k in links} | {"kind": kind.value})
    return activity


def create_task(session: Session, *, title: str, source: TaskSource = TaskSource.person,
                idempotency_key: str | None = None, **fields: Any) -> Task:
    """With an idempotency key, a second call returns the existing task instead of a duplicate."""
    if idempotency_key:
        existing = task_repo.by_idempotency_key(session, idempotency_key)
        if existing is not None:
            return existing
    if source is TaskSource.agent and not fields.get("agent_run_id"):
        raise InvalidInput("agent_run_id", "a task created by an agent must name its run")
    task = Task(title=title, source=source, idempotency_key=idempotency_key, **fields)
    session.add(task)
    session.flush()
    events.add_event(session, "task.created", "task", task.id, {"source": source.value})
    return task


def record_nps_response(session: Session, *, account_id: int, score: int, comment: str | None = None,
                        contact_id: int | None = None, survey_id: int | None = None,
                        responded_at: datetime | None = None, actor: str = "system",
                        actor_id: int | None = None) -> NpsResponse:
    """The payload carries what the Health Monitor routes on (account) and the NPS Follow-up reads the rest from
    the row (aggregate id = response id)."""
    if not 0 <= score <= 10:
        raise InvalidInput("score", "an NPS score is between 0 and 10")
    ensure_of_account(session, Contact, contact_id, account_id)
    response = NpsResponse(account_id=account_id, score=score, comment=comment, contact_id=contact_id,
                           survey_id=survey_id, responded_at=responded_at or datetime.now(UTC))
    session.add(response)
    session.flush()
    session.refresh(response, ["category"])
    events.add_event(session, "nps.response_received", "nps_response", response.id,
                     {"account_id": account_id, "score": score, "category": response.category})
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type="nps_response",
                     entity_id=response.id, after=snapshot(response))
    return response


def record_payment(session: Session, invoice_id: int, amount: Decimal, paid_on: date,
                   method: str = "bank_transfer", *, actor: str = "system", actor_id: int | None = None) -> Payment:
    """A payment may be partial; the invoice turns `paid` once payments cover it. Overpayment is refused.
    The invoice row is locked first, so two concurrent payments cannot both fit the same open balance."""
    invoice = session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    if invoice.status in (InvoiceStatus.void, InvoiceStatus.paid, InvoiceStatus.draft):
        raise Conflict(f"invoice {invoice.number} is {invoice.status.value}; it takes no payment", field="amount")
    if amount <= 0:
        raise InvalidInput("amount", "must be positive")
    balance = invoice.amount - finance_repo.paid_total(session, invoice.id)
    if amount > balance:
        raise InvalidInput("amount", f"exceeds the open balance of {balance} {invoice.currency}")
    payment = Payment(invoice_id=invoice.id, amount=amount, paid_on=paid_on, method=method)
    session.add(payment)
    if amount == balance:
        invoice.status = InvoiceStatus.paid
    session.flush()
    events.add_event(session, "payment.received", "invoice", invoice.id,
                     {"amount": str(amount), "paid_in_full": amount == balance, "account_id": invoice.account_id})
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type="payment",
                     entity_id=payment.id, after=snapshot(payment))
    return payment
