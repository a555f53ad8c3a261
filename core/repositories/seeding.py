"""Bulk writes for the seed generator, the reset it may do, and the counts that summarise a CRM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import DateTime, Table, and_, bindparam, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.models import (
    Account,
    Contract,
    Deal,
    Invoice,
    Lead,
    NpsResponse,
    Payment,
    Stage,
    UsageSnapshot,
)
from core.models.base import Base
from core.models.enums import ContractStatus, DealStatus, InvoiceStatus, LeadStatus, Lifecycle

# Any row in these means the CRM already holds data a seed would collide with or silently mix into.
SEED_GUARD_TABLES = ("accounts", "leads", "deals", "users", "pipelines", "products")


def crm_tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def insert_rows(
    session: Session, table_name: str, rows: Sequence[dict[str, Any]], *, returning: bool = False
) -> list[int]:
    """Multi-row INSERTs (batched by the driver); with `returning`, ids come back in input order."""
    if not rows:
        return []
    table = Base.metadata.tables[table_name]
    if returning:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(stmt, list(rows)).scalars().all())
    session.execute(insert(table), list(rows))
    return []


def link_converted_deals(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    """Leads are written before deals (deals point at their lead), so the lead's deal link comes after."""
    if not pairs:
        return
    table = Base.metadata.tables["leads"]
    stmt = update(table).where(table.c.id == bindparam("lead")).values(converted_deal_id=bindparam("deal"))
    session.connection().execute(stmt, [{"lead": lead, "deal": deal} for lead, deal in pairs])


def occupied_tables(session: Session) -> dict[str, int]:
    """Row counts of the guard tables that are not empty."""
    counts = {
        name: session.scalar(select(func.count()).select_from(Base.metadata.tables[name])) or 0
        for name in SEED_GUARD_TABLES
    }
    return {name: n for name, n in counts.items() if n}


def account_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Account)) or 0


def reset(session: Session) -> None:
    """Empty every CRM table and restart ids, in the caller's transaction (rolled back if seeding fails)."""
    names = ", ".join(f'"{t.name}"' for t in crm_tables())
    session.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    figures: dict[str, int]


def table_counts(session: Session) -> dict[str, int]:
    return {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in crm_tables()}


def _count(session: Session, stmt: Any) -> int:
    return int(session.scalar(stmt) or 0)


def summary(session: Session, now: datetime | None = None) -> Summary:
    """Counts per CRM table plus the figures that show the seeded history has the intended shape."""
    now = now or datetime.now(UTC)
    today = now.date()
    figures: dict[str, int] = {}
    for lifecycle in Lifecycle:
        figures[f"{lifecycle.value} accounts"] = _count(
            session, select(func.count()).select_from(Account).where(Account.lifecycle == lifecycle)
        )
    figures["accounts with a parent"] = _count(
        session, select(func.count()).where(Account.parent_id.is_not(None))
    )
    for status in DealStatus:
        figures[f"{status.value} deals"] = _count(session, select(func.count()).where(Deal.status == status))
    in_stage = func.extract("day", literal(now, DateTime(timezone=True)) - Deal.stage_entered_at)
    figures["stalled open deals (beyond rot days)"] = _count(
        session,
        select(func.count())
        .select_from(Deal)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.status == DealStatus.open, Stage.rot_days.is_not(None), in_stage > Stage.rot_days),
    )
    figures["converted leads"] = _count(session, select(func.count()).where(Lead.converted_at.is_not(None)))
    figures["disqualified leads"] = _count(
        session, select(func.count()).where(Lead.status == LeadStatus.disqualified)
    )
    paid = (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    figures["overdue unpaid invoices"] = _count(
        session,
        select(func.count()).where(
            Invoice.status == InvoiceStatus.open, Invoice.due_on < today, Invoice.amount > paid
        ),
    )
    figures["NPS detractors"] = _count(
        session, select(func.count()).where(NpsResponse.category == "detractor")
    )
    figures["accounts at >= 90% of seat limit"] = _count(session, _near_seat_limit(today))
    return Summary(counts=table_counts(session), figures=figures)


def _near_seat_limit(today: date) -> Any:
    """Accounts whose latest usage snapshot uses >= 90% of the seats of their contracts in force today."""
    latest = select(
        UsageSnapshot.account_id,
        UsageSnapshot.seats_used,
        func.row_number()
        .over(partition_by=UsageSnapshot.account_id, order_by=UsageSnapshot.captured_on.desc())
        .label("rn"),
    ).subquery()
    limits = (
        select(Contract.account_id, func.sum(Contract.seat_limit).label("seats"))
        .where(
            Contract.status == ContractStatus.active,
            Contract.start_date <= today,
            Contract.end_date >= today,
            Contract.seat_limit.is_not(None),
        )
        .group_by(Contract.account_id)
        .subquery()
    )
    return (
        select(func.count())
        .select_from(latest.join(limits, limits.c.account_id == latest.c.account_id))
        .where(and_(latest.c.rn == 1, latest.c.seats_used >= 0.9 * limits.c.seats))
    )
