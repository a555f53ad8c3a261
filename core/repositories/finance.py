"""Invoice and payment queries: balances are derived from payments, never stored twice."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Payment


def paid_total(session: Session, invoice_id: int) -> Decimal:
    total = session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == invoice_id))
    return Decimal(total or 0)
