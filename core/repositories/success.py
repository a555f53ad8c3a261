"""Lookups behind the customer-success writes (tickets, contracts, usage, invoices) that the services check
before inserting, so a duplicate is refused with the field named instead of surfacing as a constraint error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Invoice, Payment, UsageSnapshot


def usage_snapshot_exists(session: Session, account_id: int, captured_on: date) -> bool:
    stmt = select(UsageSnapshot.id).where(UsageSnapshot.account_id == account_id,
                                         UsageSnapshot.captured_on == captured_on)
    return session.scalar(stmt) is not None


def invoice_number_taken(session: Session, number: str) -> bool:
    return session.scalar(select(Invoice.id).where(Invoice.number == number)) is not None


def paid_totals(session: Session, invoice_ids: Sequence[int]) -> dict[int, Decimal]:
    """Paid so far per invoice (0 for an invoice without payments), in one query for a whole page."""
    if not invoice_ids:
        return {}
    rows = session.execute(select(Payment.invoice_id, func.sum(Payment.amount))
                           .where(Payment.invoice_id.in_(invoice_ids)).group_by(Payment.invoice_id)).all()
    paid = {invoice_id: Decimal(total) for invoice_id, total in rows}
    return {invoice_id: paid.get(invoice_id, Decimal("0.00")) for invoice_id in invoice_ids}


def payments_of(session: Session, invoice_id: int) -> Sequence[Payment]:
    return session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                           .order_by(Payment.paid_on, Payment.id)).all()
