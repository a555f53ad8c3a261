"""Queries behind Customer 360: each returns one block of the view; a fixed number whatever the data size."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Row,
    String,
    and_,
    case,
    func,
    literal,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.models import (
    Account,
    Activity,
    Contact,
    ContactEmail,
    ContactPhone,
    Contract,
    Deal,
    Invoice,
    NpsResponse,
    Payment,
    Stage,
    Ticket,
    UsageSnapshot,
)
from core.models.enums import BuyingRole, ContractStatus, DealStatus, InvoiceStatus, TicketStatus

OPEN_TICKET = (TicketStatus.open, TicketStatus.pending)
AnyRow = Row[*tuple[Any, ...]]


def account_with_children(session: Session, account_id: int) -> tuple[Account, int] | None:
    children = select(func.count()).where(Account.parent_id == account_id).scalar_subquery()
    row = session.execute(select(Account, children).where(Account.id == account_id)).first()
    return (row[0], int(row[1])) if row else None


def key_contacts(session: Session, account_id: int, limit: int) -> Sequence[AnyRow]:
    """Decision makers first, then influencers, users, the rest; with primary email/phone and the total."""
    order = {BuyingRole.decision_maker.value: 0, BuyingRole.influencer.value: 1, BuyingRole.user.value: 2}
    rank = case(order, value=Contact.buying_role, else_=3)
    email = (select(ContactEmail.email).where(ContactEmail.contact_id == Contact.id)
             .order_by(ContactEmail.is_primary.desc(), ContactEmail.id).limit(1).scalar_subquery())
    phone = (select(ContactPhone.phone).where(ContactPhone.contact_id == Contact.id)
             .order_by(ContactPhone.is_primary.desc(), ContactPhone.id).limit(1).scalar_subquery())
    stmt = (select(Contact.id, Contact.first_name, Contact.last_name, Contact.title, Contact.buying_role,
                   email.label("email"), phone.label("phone"), Contact.email_consent, Contact.do_not_call,
                   Contact.unsubscribed_at, func.count().over().label("total"))
            .where(Contact.account_id == account_id)
            .order_by(rank, Contact.last_name, Contact.first_name, Contact.id).limit(limit))
    return session.execute(stmt).all()


def open_deals(session: Session, account_id: int, now: datetime) -> Sequence[AnyRow]:
    seconds = func.extract("epoch", literal(now, DateTime(timezone=True)) - Deal.stage_entered_at)
    stmt = (select(Deal.id, Deal.name, Deal.amount, Deal.currency, Deal.expected_close_date, Deal.owner_id,
                   Deal.stage_entered_at, Stage.name.label("stage"), Stage.win_probability,
                   func.floor(seconds / 86400).label("days_in_stage"))
            .join(Stage, Stage.id == Deal.stage_id)
            .where(Deal.account_id == account_id, Deal.status == DealStatus.open)
            .order_by(Deal.expected_close_date.asc().nulls_last(), Deal.amount.desc(), Deal.id))
    return session.execute(stmt).all()


def timeline(session: Session, account_id: int, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Latest activities on the account (directly, through its contacts or its deals) up to `now`.

    A UNION of three index scans collects the ids; each row carries the total, so one statement suffices
    (an empty page means no activity at all, since the page starts at the newest).
    """
    until = literal(now, DateTime(timezone=True))
    touched = union(
        select(Activity.id).where(Activity.account_id == account_id, Activity.occurred_at <= until),
        select(Activity.id).join(Contact, Contact.id == Activity.contact_id)
        .where(Contact.account_id == account_id, Activity.occurred_at <= until),
        select(Activity.id).join(Deal, Deal.id == Activity.deal_id)
        .where(Deal.account_id == account_id, Activity.occurred_at <= until),
    ).cte("touched")
    total = select(func.count()).select_from(touched).scalar_subquery()
    stmt = (select(Activity.id, Activity.kind, Activity.subject, Activity.direction, Activity.occurred_at,
                   Activity.duration_minutes, Activity.contact_id, Activity.deal_id, Activity.user_id,
                   total.label("total"))
            .where(Activity.id.in_(select(touched.c.id)))
            .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit))
    return session.execute(stmt).all()


def sla_state(now: datetime) -> ColumnElement[str]:
    """breached: resolved after the due time, or still open past it at `now`; met; on_track; none; unknown."""
    at = literal(now, DateTime(timezone=True))
    is_open = Ticket.status.in_(OPEN_TICKET)
    return case(
        (Ticket.sla_due_at.is_(None), "none"),
        (and_(is_open, Ticket.sla_due_at < at), "breached"),
        (is_open, "on_track"),
        (Ticket.resolved_at.is_(None), "unknown"),
        (Ticket.resolved_at > Ticket.sla_due_at, "breached"),
        else_="met",
    ).cast(String(16))


def open_tickets(session: Session, account_id: int, now: datetime, limit: int) -> Sequence[AnyRow]:
    stmt = (select(Ticket.id, Ticket.subject, Ticket.priority, Ticket.status, Ticket.opened_at,
                   Ticket.sla_due_at, Ticket.contact_id, Ticket.assignee_id,
                   sla_state(now).label("sla_state"))
            .where(Ticket.account_id == account_id, Ticket.status.in_(OPEN_TICKET))
            .order_by(Ticket.sla_due_at.asc().nulls_last(), Ticket.opened_at, Ticket.id).limit(limit))
    return session.execute(stmt).all()


def ticket_summary(session: Session, account_id: int, now: datetime) -> AnyRow:
    state = sla_state(now)
    is_open = Ticket.status.in_(OPEN_TICKET)
    stmt = select(
        func.count().filter(is_open).label("open"),
        func.count().filter(and_(is_open, state == "breached")).label("open_breached"),
        func.count().filter(and_(~is_open, state == "breached")).label("resolved_breached"),
        func.count().filter(and_(~is_open, state == "met")).label("resolved_met"),
        func.avg(Ticket.satisfaction).label("satisfaction_avg"),
        func.count(Ticket.satisfaction).label("satisfaction_count"),
    ).where(Ticket.account_id == account_id)
    return session.execute(stmt).one()


def _paid() -> ColumnElement[Any]:
    return (select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == Invoice.id)
            .scalar_subquery())


def unpaid_invoices(session: Session, account_id: int, limit: int) -> Sequence[AnyRow]:
    """Open invoices with something left to pay, oldest due first."""
    paid = _paid()
    stmt = (select(Invoice.id, Invoice.number, Invoice.currency, Invoice.amount, Invoice.issued_on,
                   Invoice.due_on, paid.label("paid"))
            .where(Invoice.account_id == account_id, Invoice.status == InvoiceStatus.open,
                   Invoice.amount > paid)
            .order_by(Invoice.due_on, Invoice.id).limit(limit))
    return session.execute(stmt).all()


def invoice_totals(session: Session, account_id: int, today: date) -> Sequence[AnyRow]:
    """Per currency: invoiced, paid, open and overdue balance, overdue count, oldest overdue due date."""
    paid = _paid()
    balance = case((Invoice.status == InvoiceStatus.open, Invoice.amount - paid), else_=0)
    overdue = and_(Invoice.status == InvoiceStatus.open, Invoice.due_on < today, Invoice.amount > paid)
    stmt = (select(Invoice.currency,
                   func.sum(Invoice.amount).label("invoiced"),
                   func.sum(paid).label("paid"),
                   func.sum(balance).label("balance"),
                   func.coalesce(func.sum(balance).filter(overdue), 0).label("overdue"),
                   func.count().filter(overdue).label("overdue_count"),
                   func.min(Invoice.due_on).filter(overdue).label("oldest_overdue_due_on"))
            .where(Invoice.account_id == account_id,
                   Invoice.status.in_([InvoiceStatus.open, InvoiceStatus.paid]))
            .group_by(Invoice.currency).order_by(Invoice.currency))
    return session.execute(stmt).all()


def nps(session: Session, account_id: int, now: datetime) -> AnyRow:
    """Aggregates over responses up to `now`, joined with the latest one (LATERAL, one statement)."""
    at = literal(now, DateTime(timezone=True))
    mine = and_(NpsResponse.account_id == account_id, NpsResponse.responded_at <= at)
    latest = (select(NpsResponse.score, NpsResponse.category, NpsResponse.comment, NpsResponse.responded_at,
                     NpsResponse.contact_id)
              .where(mine).order_by(NpsResponse.responded_at.desc(), NpsResponse.id.desc()).limit(1)
              .lateral("latest"))
    agg = (select(func.count().label("responses"), func.avg(NpsResponse.score).label("average"),
                  func.count().filter(NpsResponse.category == "promoter").label("promoters"),
                  func.count().filter(NpsResponse.category == "passive").label("passives"),
                  func.count().filter(NpsResponse.category == "detractor").label("detractors"))
           .where(mine).subquery("agg"))
    stmt = select(agg, latest).select_from(agg.outerjoin(latest, true()))
    return session.execute(stmt).one()


def contracts(session: Session, account_id: int) -> Sequence[AnyRow]:
    """Contracts still marked active, nearest end first (one past its end date is a renewal gone overdue)."""
    stmt = (select(Contract.id, Contract.plan, Contract.status, Contract.arr, Contract.currency,
                   Contract.seat_limit, Contract.start_date, Contract.end_date, Contract.auto_renew)
            .where(Contract.account_id == account_id, Contract.status == ContractStatus.active)
            .order_by(Contract.end_date, Contract.id))
    return session.execute(stmt).all()


def usage(session: Session, account_id: int, today: date, points: int) -> Sequence[AnyRow]:
    """The latest `points` snapshots up to today, newest first."""
    stmt = (select(UsageSnapshot.captured_on, UsageSnapshot.logins, UsageSnapshot.active_users,
                   UsageSnapshot.seats_used, UsageSnapshot.features_adopted)
            .where(UsageSnapshot.account_id == account_id, UsageSnapshot.captured_on <= today)
            .order_by(UsageSnapshot.captured_on.desc()).limit(points))
    return session.execute(stmt).all()



def credit_history(session: Session, account_id: int, today: date, currency: str) -> AnyRow:
    """The year's invoicing and payment habits in the account's currency, for its credit limit: invoiced amount,
    invoices due, those paid in full by their due date, the open balance and the oldest overdue due date."""
    paid = _paid()
    paid_by_due = (select(func.coalesce(func.sum(Payment.amount), 0))
                   .where(Payment.invoice_id == Invoice.id, Payment.paid_on <= Invoice.due_on).scalar_subquery())
    year = Invoice.issued_on > today - timedelta(days=365)
    due_year = and_(Invoice.due_on < today, Invoice.due_on >= today - timedelta(days=365))
    open_balance = case((Invoice.status == InvoiceStatus.open, Invoice.amount - paid), else_=0)
    overdue = and_(Invoice.status == InvoiceStatus.open, Invoice.due_on < today, Invoice.amount > paid)
    stmt = (select(func.coalesce(func.sum(Invoice.amount).filter(year), 0).label("invoiced_12m"),
                   func.count().filter(due_year).label("due_12m"),
                   func.count().filter(and_(due_year, paid_by_due >= Invoice.amount)).label("on_time_12m"),
                   func.coalesce(func.sum(open_balance), 0).label("open_balance"),
                   func.min(Invoice.due_on).filter(overdue).label("oldest_overdue"))
            .where(Invoice.account_id == account_id, Invoice.currency == currency, Invoice.issued_on <= today,
                   Invoice.status.in_([InvoiceStatus.open, InvoiceStatus.paid])))
    return session.execute(stmt).one()
