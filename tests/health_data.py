"""Builders for health tests: a customer account whose every health fact is set explicitly as of a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.models.enums import ActivityKind, Lifecycle, Role, TicketStatus
from tests import factories as f
from tests import factories_extra as fx


@dataclass(frozen=True)
class Built:
    account_id: int
    csm_id: int


def customer(session: Session, now: datetime, *, name: str | None = None, arr: str = "12000",
             parent_id: int | None = None, csm_id: int | None = None, nps: int | None = 9, contacts: int = 3,
             meetings: int = 3, open_tickets: int = 0, days_to_renewal: int = 200, tenure_days: int = 800,
             logins: tuple[int, ...] = (400, 410, 420), active_users: int = 40, seats: int = 50,
             features: int = 8, catalog: int = 10, overdue_days: int = 0, lifecycle: Lifecycle = Lifecycle.customer,
             satisfaction: int | None = 5) -> Built:
    """A customer with healthy defaults; each keyword turns one signal."""
    today = now.date()
    if csm_id is None:
        csm_id = f.user(session, role=Role.csm).id
    account = f.account(session, name=name or f"Customer {f._n()}", parent_id=parent_id, csm_id=csm_id,
                        lifecycle=lifecycle)
    aid = account.id
    start = today - timedelta(days=tenure_days)
    f.contract(session, aid, start_date=start, end_date=today + timedelta(days=days_to_renewal),
               arr=Decimal(arr), seat_limit=seats)
    names = [f"feature_{i}" for i in range(catalog)]
    for i, count in enumerate(logins):
        captured = today - timedelta(days=30 * (len(logins) - 1 - i) + 1)
        f.usage(session, aid, captured_on=captured, logins=count, active_users=active_users, seats_used=seats,
                features_adopted=names[:features] if i == len(logins) - 1 else names)
    for _ in range(contacts):
        f.contact(session, account_id=aid, created_at=now - timedelta(days=400))
    for i in range(meetings):
        f.activity(session, account_id=aid, kind=ActivityKind.meeting, occurred_at=now - timedelta(days=10 + 20 * i))
    if nps is not None:
        f.nps(session, aid, nps, responded_at=now - timedelta(days=20))
    for _ in range(open_tickets):
        f.ticket(session, aid, opened_at=now - timedelta(days=3), status=TicketStatus.open)
    if satisfaction is not None:
        f.ticket(session, aid, opened_at=now - timedelta(days=60), resolved_at=now - timedelta(days=58),
                 status=TicketStatus.solved, satisfaction=satisfaction)
    paid_invoice = f.invoice(session, aid, issued_on=today - timedelta(days=120), due_on=today - timedelta(days=90))
    fx.payment(session, paid_invoice.id, paid_invoice.amount, paid_on=today - timedelta(days=95))
    if overdue_days:
        f.invoice(session, aid, issued_on=today - timedelta(days=overdue_days + 30),
                  due_on=today - timedelta(days=overdue_days))
    return Built(aid, csm_id)


def degrade(session: Session, account_id: int, now: datetime, *, tickets: int = 3, overdue_days: int = 45,
            nps: int | None = 2) -> None:
    """What goes wrong in a week: new tickets, an invoice falls overdue, a detractor answer."""
    for _ in range(tickets):
        f.ticket(session, account_id, opened_at=now - timedelta(days=2), status=TicketStatus.open)
    today: date = now.date()
    f.invoice(session, account_id, issued_on=today - timedelta(days=overdue_days + 30),
              due_on=today - timedelta(days=overdue_days), amount=Decimal("5000"))
    if nps is not None:
        f.nps(session, account_id, nps, responded_at=now - timedelta(days=1))
