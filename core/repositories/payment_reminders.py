"""Queries of the Payment Reminders agent: open invoices past due with their balance, and who to write to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Account, Approval, Contact, ContactEmail, Draft, Invoice, Payment
from core.models.enums import InvoiceStatus


def invoice_facts(session: Session, today: date, invoice_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Open invoices due before today (or the given ones, whatever their state) with what is still owed."""
    paid = (select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == Invoice.id)
            .correlate(Invoice).scalar_subquery())
    stmt = (select(Invoice.id, Invoice.number, Invoice.status, Invoice.amount, Invoice.currency, Invoice.issued_on,
                   Invoice.due_on, paid.label("paid"), Invoice.account_id, Account.name.label("account_name"),
                   Account.tags.label("account_tags"), Account.account_manager_id, Account.csm_id)
            .join(Account, Account.id == Invoice.account_id)
            .order_by(Invoice.due_on, Invoice.id))
    if invoice_ids is None:
        stmt = stmt.where(Invoice.status == InvoiceStatus.open, Invoice.due_on < today)
    else:
        stmt = stmt.where(Invoice.id.in_(list(invoice_ids)))
    return [dict(row._mapping) for row in session.execute(stmt)]


def contacts_with_email(session: Session, account_id: int) -> list[dict[str, Any]]:
    """The account's contacts that have an email address (primary first), for choosing the billing contact."""
    email = (select(ContactEmail.email).where(ContactEmail.contact_id == Contact.id)
             .order_by(ContactEmail.is_primary.desc(), ContactEmail.id).limit(1).correlate(Contact).scalar_subquery())
    stmt = (select(Contact.id, Contact.first_name, Contact.title, Contact.buying_role, Contact.tags, Contact.language,
                   email.label("email"))
            .where(Contact.account_id == account_id).order_by(Contact.id))
    return [dict(row._mapping) for row in session.execute(stmt) if row.email]


def pending_reminders(session: Session, key_prefix: str) -> list[dict[str, Any]]:
    """Reminders of one invoice still waiting for review (their draft keys start with the invoice's prefix)."""
    stmt = (select(Approval.id.label("approval_id"), Approval.reviewer_id, Draft.idempotency_key)
            .join(Draft, Draft.id == Approval.draft_id)
            .where(Approval.status == "pending", Draft.idempotency_key.startswith(key_prefix, autoescape=True))
            .order_by(Approval.id))
    return [dict(row._mapping) for row in session.execute(stmt)]
