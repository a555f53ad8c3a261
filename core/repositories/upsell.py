"""Queries of the Upsell and Expansion detectors: the account facts their signals are computed from.

Each function returns plain rows or dicts for one account (or, for product ownership, all customer accounts at
once), so tools/upsell can decide from JSON-able facts and the executor can hash them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import Session

from core.models import (
    Account,
    Activity,
    Contact,
    Contract,
    Deal,
    Invoice,
    NpsResponse,
    Payment,
    Pipeline,
    Product,
    SalesOrder,
    SalesOrderLine,
    Stage,
    Suggestion,
    TextEmbedding,
    UsageSnapshot,
)
from core.models.enums import ContractStatus, InvoiceStatus, Lifecycle, OrderStatus
from core.repositories import embeddings


def customer_account_ids(session: Session) -> list[int]:
    """Active customers (lifecycle customer, not blacklisted): the detectors' scheduled subjects."""
    stmt = (select(Account.id).where(Account.lifecycle == Lifecycle.customer, Account.blacklisted.is_(False))
            .order_by(Account.id))
    return list(session.scalars(stmt))


def account_row(session: Session, account_id: int) -> dict[str, Any] | None:
    stmt = select(Account.id, Account.name, Account.lifecycle, Account.blacklisted, Account.currency,
                  Account.price_book_id, Account.account_manager_id, Account.csm_id).where(Account.id == account_id)
    row = session.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def active_contracts(session: Session, account_id: int, today: date) -> list[dict[str, Any]]:
    """Contracts in force today (status active, started, not ended)."""
    stmt = (select(Contract.id, Contract.plan, Contract.arr, Contract.currency, Contract.seat_limit,
                   Contract.start_date, Contract.end_date)
            .where(Contract.account_id == account_id, Contract.status == ContractStatus.active,
                   Contract.start_date <= today, Contract.end_date >= today)
            .order_by(Contract.end_date, Contract.id))
    return [dict(r._mapping) for r in session.execute(stmt)]


def usage_snapshots(session: Session, account_id: int, since: date, today: date) -> list[dict[str, Any]]:
    """Snapshots captured in [since, today], oldest first."""
    stmt = (select(UsageSnapshot.captured_on, UsageSnapshot.logins, UsageSnapshot.active_users,
                   UsageSnapshot.seats_used)
            .where(UsageSnapshot.account_id == account_id, UsageSnapshot.captured_on >= since,
                   UsageSnapshot.captured_on <= today)
            .order_by(UsageSnapshot.captured_on))
    return [dict(r._mapping) for r in session.execute(stmt)]


def latest_snapshot(session: Session, account_id: int, today: date) -> dict[str, Any] | None:
    stmt = (select(UsageSnapshot.captured_on, UsageSnapshot.logins, UsageSnapshot.active_users,
                   UsageSnapshot.seats_used)
            .where(UsageSnapshot.account_id == account_id, UsageSnapshot.captured_on <= today)
            .order_by(UsageSnapshot.captured_on.desc()).limit(1))
    row = session.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def new_contacts(session: Session, account_id: int, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """People added to the account in [since, now], oldest first."""
    stmt = (select(Contact.id, Contact.first_name, Contact.last_name, Contact.title, Contact.created_at)
            .where(Contact.account_id == account_id, Contact.created_at >= since, Contact.created_at <= now)
            .order_by(Contact.created_at, Contact.id))
    return [dict(r._mapping) for r in session.execute(stmt)]


def latest_nps(session: Session, account_id: int, since: datetime, now: datetime) -> dict[str, Any] | None:
    stmt = (select(NpsResponse.id, NpsResponse.score, NpsResponse.category, NpsResponse.responded_at)
            .where(NpsResponse.account_id == account_id, NpsResponse.responded_at >= since,
                   NpsResponse.responded_at <= now)
            .order_by(NpsResponse.responded_at.desc(), NpsResponse.id.desc()).limit(1))
    row = session.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def activity_count(session: Session, account_id: int, since: datetime, now: datetime) -> int:
    """Activities on the account, its contacts or its deals in [since, now]."""
    contacts = select(Contact.id).where(Contact.account_id == account_id)
    deals = select(Deal.id).where(Deal.account_id == account_id)
    stmt = (select(func.count()).select_from(Activity)
            .where(or_(Activity.account_id == account_id, Activity.contact_id.in_(contacts),
                       Activity.deal_id.in_(deals)),
                   Activity.occurred_at >= since, Activity.occurred_at <= now))
    return int(session.scalar(stmt) or 0)


def invoice_health(session: Session, account_id: int, since: date, today: date) -> dict[str, Any]:
    """Invoices issued since `since` (open or paid), and every open one overdue today whatever its age."""
    paid = (select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == Invoice.id)
            .correlate(Invoice).scalar_subquery())
    overdue = and_(Invoice.status == InvoiceStatus.open, Invoice.due_on < today, Invoice.amount > paid)
    recent = and_(Invoice.issued_on >= since, Invoice.issued_on <= today)
    stmt = (select(func.count().filter(recent).label("invoices"),
                   func.count().filter(and_(recent, Invoice.status == InvoiceStatus.paid)).label("paid"),
                   func.count().filter(overdue).label("overdue"),
                   func.coalesce(func.sum(Invoice.amount - paid).filter(overdue), 0).label("overdue_amount"),
                   func.min(Invoice.due_on).filter(overdue).label("oldest_overdue_due_on"))
            .where(Invoice.account_id == account_id,
                   Invoice.status.in_([InvoiceStatus.open, InvoiceStatus.paid])))
    return dict(session.execute(stmt).one()._mapping)


def product_ownership(session: Session) -> dict[int, set[int]]:
    """Products each customer account has bought (lines of its not-cancelled sales orders)."""
    stmt = (select(SalesOrder.account_id, SalesOrderLine.product_id).distinct()
            .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
            .join(Account, Account.id == SalesOrder.account_id)
            .join(Product, Product.id == SalesOrderLine.product_id)
            .where(SalesOrder.status != OrderStatus.cancelled, Product.active.is_(True),
                   Account.lifecycle == Lifecycle.customer))
    owned: dict[int, set[int]] = defaultdict(set)
    for account_id, product_id in session.execute(stmt):
        if product_id is not None:
            owned[int(account_id)].add(int(product_id))
    return dict(owned)


def description_neighbours(session: Session, account_id: int, k: int, max_distance: float) -> list[int]:
    """Accounts whose description embedding (pgvector, HNSW) lies within `max_distance` of this account's,
    nearest first; empty when the account's description is not embedded."""
    vector = session.scalar(select(TextEmbedding.embedding).where(
        TextEmbedding.source == literal_column("'account_description'"), TextEmbedding.entity_id == account_id))
    if vector is None:
        return []
    found = embeddings.similar(session, "account_description", [float(x) for x in vector], k + 1)
    return [int(n.entity_id) for n in found if n.entity_id != account_id and n.distance <= max_distance][:k]


def product_names(session: Session, product_ids: list[int]) -> dict[int, str]:
    if not product_ids:
        return {}
    return {int(i): str(n) for i, n in session.execute(select(Product.id, Product.name)
                                                       .where(Product.id.in_(product_ids)))}


def proposal_pipeline(session: Session, name: str | None) -> tuple[int, int] | None:
    """(pipeline id, first stage id) of the named pipeline, else of the default one; None without pipelines."""
    pipeline_id = None
    if name:
        pipeline_id = session.scalar(select(Pipeline.id).where(Pipeline.name == name))
    if pipeline_id is None:
        pipeline_id = session.scalar(select(Pipeline.id).order_by(Pipeline.is_default.desc(), Pipeline.id).limit(1))
    if pipeline_id is None:
        return None
    stage_id = session.scalar(select(Stage.id).where(Stage.pipeline_id == pipeline_id, Stage.is_won.is_(False),
                                                     Stage.is_lost.is_(False), Stage.archived_at.is_(None))
                              .order_by(Stage.position).limit(1))
    return (int(pipeline_id), int(stage_id)) if stage_id is not None else None


def suggestion_exists(session: Session, key: str) -> bool:
    return session.scalar(select(Suggestion.id).where(Suggestion.idempotency_key == key)) is not None
