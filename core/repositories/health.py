"""Queries of the Customer Health Monitor: one account's health facts as of a moment, its stored health scores,
the renewal outcomes its weights are learned from.

Every fact is computed as of `now` (payments made later, tickets opened later, snapshots captured later are
ignored), so the same function reads today's facts and the facts before a past renewal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from core.models import (
    Account,
    Activity,
    AgentRun,
    AgentScore,
    Contact,
    Contract,
    Invoice,
    NpsResponse,
    Payment,
    Product,
    SalesOrder,
    SalesOrderLine,
    Ticket,
    UsageSnapshot,
)
from core.models.enums import ActivityKind, ContractStatus, InvoiceStatus, Lifecycle, OrderStatus, TicketStatus

AUTOPAY_METHODS = ("card", "direct_debit")
USAGE_POINTS = 6
OPEN = (TicketStatus.open, TicketStatus.pending)


def _at(now: datetime) -> Any:
    return literal(now, DateTime(timezone=True))


def usage(session: Session, account_id: int, today: date) -> list[dict[str, Any]]:
    """The latest snapshots up to today, oldest first."""
    rows = session.execute(
        select(UsageSnapshot.captured_on, UsageSnapshot.logins, UsageSnapshot.active_users, UsageSnapshot.seats_used,
               UsageSnapshot.features_adopted)
        .where(UsageSnapshot.account_id == account_id, UsageSnapshot.captured_on <= today)
        .order_by(UsageSnapshot.captured_on.desc()).limit(USAGE_POINTS)).all()
    return [{"captured_on": r.captured_on.isoformat(), "logins": r.logins, "active_users": r.active_users,
             "seats_used": r.seats_used, "features": len(r.features_adopted or [])} for r in reversed(rows)]


def feature_catalog_size(session: Session) -> int:
    """How many distinct product features any account has adopted: the denominator of feature adoption."""
    inner = select(func.unnest(UsageSnapshot.features_adopted).label("f")).subquery()
    return int(session.scalar(select(func.count(func.distinct(inner.c.f)))) or 0)


def tickets(session: Session, account_id: int, now: datetime) -> dict[str, Any]:
    """Open tickets as of now, SLA breaches of the last 90 days, satisfaction of the last 180, new this week."""
    at = _at(now)
    opened = and_(Ticket.account_id == account_id, Ticket.opened_at <= at)
    still_open = or_(and_(Ticket.resolved_at.is_(None), Ticket.status.in_(OPEN)), Ticket.resolved_at > at)
    breached = and_(Ticket.sla_due_at.is_not(None), Ticket.sla_due_at < at,
                    or_(Ticket.resolved_at.is_(None), Ticket.resolved_at > Ticket.sla_due_at))
    recent = Ticket.opened_at > at - timedelta(days=90)
    rated = and_(Ticket.satisfaction.is_not(None), Ticket.resolved_at <= at,
                 Ticket.resolved_at > at - timedelta(days=180))
    row = session.execute(select(
        func.count().filter(still_open).label("open"),
        func.count().filter(and_(recent, breached)).label("breaches"),
        func.avg(Ticket.satisfaction).filter(rated).label("satisfaction"),
        func.count().filter(rated).label("rated"),
        func.count().filter(Ticket.opened_at > at - timedelta(days=7)).label("new_7d"),
    ).where(opened)).one()
    return {"open_tickets": int(row.open), "sla_breaches_90d": int(row.breaches),
            "satisfaction_avg": round(float(row.satisfaction), 2) if row.satisfaction is not None else None,
            "satisfaction_count": int(row.rated), "new_tickets_7d": int(row.new_7d)}


def invoices(session: Session, account_id: int, today: date) -> dict[str, Any]:
    """AR and days overdue derived from invoices and the payments made by today; payment habits of the year."""
    paid = (select(func.coalesce(func.sum(Payment.amount), 0))
            .where(Payment.invoice_id == Invoice.id, Payment.paid_on <= today).scalar_subquery())
    paid_by_due = (select(func.coalesce(func.sum(Payment.amount), 0))
                   .where(Payment.invoice_id == Invoice.id, Payment.paid_on <= Invoice.due_on).scalar_subquery())
    balance = Invoice.amount - paid
    unpaid = balance > 0
    overdue = and_(unpaid, Invoice.due_on < today)
    due_in_year = and_(Invoice.due_on < today, Invoice.due_on >= today - timedelta(days=365))
    row = session.execute(select(
        func.coalesce(func.sum(balance).filter(unpaid), 0).label("open_ar"),
        func.count().filter(overdue).label("overdue"),
        func.coalesce(func.sum(balance).filter(overdue), 0).label("overdue_ar"),
        func.min(Invoice.due_on).filter(overdue).label("oldest_due"),
        func.count().filter(due_in_year).label("due_year"),
        func.count().filter(and_(due_in_year, paid_by_due >= Invoice.amount)).label("on_time"),
    ).where(Invoice.account_id == account_id, Invoice.issued_on <= today,
            Invoice.status.in_([InvoiceStatus.open, InvoiceStatus.paid]))).one()
    methods = session.scalars(select(Payment.method).distinct().join(Invoice, Invoice.id == Payment.invoice_id)
                              .where(Invoice.account_id == account_id, Payment.paid_on <= today,
                                     Payment.paid_on > today - timedelta(days=365))
                              .order_by(Payment.method)).all()
    pay = session.execute(select(
        func.count().label("payments"),
        func.count().filter(Payment.method.in_(AUTOPAY_METHODS)).label("autopay"),
    ).join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Invoice.account_id == account_id, Payment.paid_on <= today,
               Payment.paid_on > today - timedelta(days=365))).one()
    return {"open_ar": float(Decimal(row.open_ar).quantize(Decimal("0.01"))),
            "overdue_invoices": int(row.overdue),
            "overdue_ar": float(Decimal(row.overdue_ar).quantize(Decimal("0.01"))),
            "max_days_overdue": (today - row.oldest_due).days if row.oldest_due else 0,
            "invoices_due_12m": int(row.due_year), "paid_on_time_12m": int(row.on_time),
            "payments_12m": int(pay.payments), "autopay_payments_12m": int(pay.autopay),
            "payment_methods": list(methods)}


def engagement(session: Session, account_id: int, now: datetime) -> dict[str, Any]:
    """Meetings of the last 90 days (on the account or its contacts), the latest NPS of the year, contacts."""
    at = _at(now)
    contact_ids = select(Contact.id).where(Contact.account_id == account_id)
    meetings = session.scalar(select(func.count()).select_from(Activity).where(
        Activity.kind == ActivityKind.meeting, Activity.occurred_at <= at,
        Activity.occurred_at > at - timedelta(days=90),
        or_(Activity.account_id == account_id, Activity.contact_id.in_(contact_ids))))
    nps = session.execute(select(NpsResponse.score, NpsResponse.responded_at)
                          .where(NpsResponse.account_id == account_id, NpsResponse.responded_at <= at,
                                 NpsResponse.responded_at > at - timedelta(days=365))
                          .order_by(NpsResponse.responded_at.desc(), NpsResponse.id.desc()).limit(1)).first()
    contacts = session.scalar(select(func.count()).select_from(Contact)
                              .where(Contact.account_id == account_id, Contact.created_at <= at))
    return {"meetings_90d": int(meetings or 0), "nps_latest": int(nps.score) if nps else None,
            "contacts": int(contacts or 0)}


def contracts(session: Session, account_id: int, today: date) -> dict[str, Any]:
    """The contract in force ending first (renewal), its term, the customer's age, and the ARR in force."""
    rows = session.execute(select(Contract.start_date, Contract.end_date, Contract.auto_renew, Contract.arr,
                                  Contract.seat_limit)
                           .where(Contract.account_id == account_id, Contract.start_date <= today,
                                  Contract.status != ContractStatus.cancelled)
                           .order_by(Contract.end_date, Contract.id)).all()
    in_force = [r for r in rows if r.end_date >= today]
    first = min((r.start_date for r in rows), default=None)
    nearest = in_force[0] if in_force else None
    seats = sum(r.seat_limit or 0 for r in in_force)
    return {"in_force": len(in_force), "arr": float(sum((r.arr for r in in_force), Decimal(0))),
            "seat_limit": seats or None,
            "days_to_renewal": (nearest.end_date - today).days if nearest else None,
            "auto_renew": bool(nearest.auto_renew) if nearest else False,
            "term_months": round((nearest.end_date - nearest.start_date).days / 30.4) if nearest else None,
            "tenure_months": (today - first).days // 30 if first and in_force else None}


def products(session: Session, account_id: int, today: date) -> list[str]:
    """What the account holds as of today: the plans of its contracts in force and the products on its sales
    orders of the last year (not cancelled); the product-mix signal reads past accounts' retention per name."""
    plans = session.scalars(select(Contract.plan).where(
        Contract.account_id == account_id, Contract.start_date <= today, Contract.end_date >= today,
        Contract.status != ContractStatus.cancelled)).all()
    ordered = session.scalars(select(Product.name)
                              .join(SalesOrderLine, SalesOrderLine.product_id == Product.id)
                              .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
                              .where(SalesOrder.account_id == account_id, SalesOrder.status != OrderStatus.cancelled,
                                     func.date(SalesOrder.ordered_at) <= today,
                                     func.date(SalesOrder.ordered_at) > today - timedelta(days=365))).all()
    return sorted(set(plans) | set(ordered))


def account_facts(session: Session, account_id: int, now: datetime, features_available: int) -> dict[str, Any]:
    """Everything the health signals read about one account, as of `now` (JSON-able)."""
    today = now.date()
    return {"features_available": features_available, "usage": usage(session, account_id, today),
            "support": tickets(session, account_id, now),
            "finance": invoices(session, account_id, today), "engagement": engagement(session, account_id, now),
            "contract": contracts(session, account_id, today), "products": products(session, account_id, today)}


def account_row(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def children(session: Session, account_id: int) -> list[Account]:
    return list(session.scalars(select(Account).where(Account.parent_id == account_id).order_by(Account.id)))


def customer_ids(session: Session) -> list[int]:
    """Accounts the weekly sweep scores: customers, and every ancestor of a customer (their roll-ups).

    UNION (not UNION ALL) in the recursive step stops on ids already found, so cyclic data terminates.
    """
    parent = Account.__table__.alias("parent")
    up = (select(Account.parent_id.label("id"))
          .where(Account.lifecycle == Lifecycle.customer, Account.parent_id.is_not(None)).cte("up", recursive=True))
    up = up.union(select(parent.c.parent_id).join(up, parent.c.id == up.c.id).where(parent.c.parent_id.is_not(None)))
    return list(session.scalars(select(Account.id).where(
        or_(Account.lifecycle == Lifecycle.customer, Account.id.in_(select(up.c.id)))).order_by(Account.id)))


def latest_scores(session: Session, account_id: int, limit: int = 10, purpose: str = "health",
                  agent: str = "health_monitor") -> Sequence[AgentScore]:
    """The account's stored health scores, newest first."""
    return session.scalars(select(AgentScore).where(
        AgentScore.agent == agent, AgentScore.subject_type == "account", AgentScore.subject_id == account_id,
        AgentScore.purpose == purpose).order_by(AgentScore.created_at.desc(), AgentScore.id.desc()).limit(limit)).all()


def previous_score(session: Session, account_id: int, before_key: str, purpose: str = "health",
                   agent: str = "health_monitor") -> AgentScore | None:
    """The latest score other than the one with this idempotency key (a re-run must not diff itself) whose run
    finished: a run that failed after storing its score (say, before the CSM's task) does not hide the drop from
    the next run."""
    return session.scalar(select(AgentScore).join(AgentRun, AgentRun.id == AgentScore.run_id).where(
        AgentScore.agent == agent, AgentScore.subject_type == "account", AgentScore.subject_id == account_id,
        AgentScore.purpose == purpose, AgentScore.idempotency_key != before_key,
        AgentRun.status.in_(("succeeded", "waiting_review")))
        .order_by(AgentScore.created_at.desc(), AgentScore.id.desc()).limit(1))


def renewal_outcomes(session: Session, today: date) -> list[tuple[int, date, int]]:
    """(account, decision date, churned 0/1) for every contract that ended by today with a known outcome.

    Renewed: another contract of the account starts within 30 days before to 60 days after its end. Churned:
    not renewed and the account is marked churned. The decision date is 90 days before the end (not before its
    start), when a CSM could still act; contracts without an outcome yet are left out.
    """
    rows = session.execute(select(Contract.id, Contract.account_id, Contract.start_date, Contract.end_date,
                                  Account.lifecycle)
                           .join(Account, Account.id == Contract.account_id)
                           .where(Contract.status != ContractStatus.cancelled)
                           .order_by(Contract.account_id, Contract.start_date, Contract.id)).all()
    starts: dict[int, list[tuple[int, date]]] = {}
    for r in rows:
        starts.setdefault(r.account_id, []).append((r.id, r.start_date))
    samples: list[tuple[int, date, int]] = []
    for r in rows:
        if r.end_date >= today:
            continue
        renewed = any(cid != r.id and r.end_date - timedelta(days=30) <= s <= r.end_date + timedelta(days=60)
                      for cid, s in starts[r.account_id])
        if not renewed and r.lifecycle != Lifecycle.churned:
            continue
        as_of = max(r.end_date - timedelta(days=90), r.start_date)
        samples.append((int(r.account_id), as_of, 0 if renewed else 1))
    return samples
