"""Account hierarchy queries: recursive CTEs over accounts.parent_id that terminate even on cyclic data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Integer,
    Select,
    String,
    and_,
    any_,
    func,
    literal,
    not_,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import CTE

from core.models import Account, Contact, Contract, Deal, Invoice, Payment
from core.models.enums import ContractStatus, DealStatus, InvoiceStatus

HIERARCHY_LOCK_KEY = 7_301_001  # advisory lock serialising parent changes, so two moves cannot form a cycle


def subtree_cte(root_id: int, name: str = "tree") -> CTE:
    """The root and every descendant with its depth and the id path from the root.

    The path doubles as a cycle guard: a row whose id is already on its path is not expanded again.
    """
    acc = Account.__table__
    child = acc.alias("child")
    seed = select(acc.c.id, acc.c.parent_id, acc.c.name, literal(0, Integer).label("depth"),
                  array([acc.c.id]).label("path")).where(acc.c.id == root_id)
    tree = seed.cte(name, recursive=True)
    step = (select(child.c.id, child.c.parent_id, child.c.name, tree.c.depth + 1,
                   func.array_append(tree.c.path, child.c.id))
            .where(child.c.parent_id == tree.c.id, not_(child.c.id == any_(tree.c.path))))
    return tree.union_all(step)


def ancestors_cte(account_id: int, name: str = "up") -> CTE:
    """The account (depth 0) and each ancestor up to the root (depth 1, 2, ...), cycle-guarded."""
    acc = Account.__table__
    parent = acc.alias("parent")
    seed = select(acc.c.id, acc.c.parent_id, acc.c.name, literal(0, Integer).label("depth"),
                  array([acc.c.id]).label("path")).where(acc.c.id == account_id)
    up = seed.cte(name, recursive=True)
    step = (select(parent.c.id, parent.c.parent_id, parent.c.name, up.c.depth + 1,
                   func.array_append(up.c.path, parent.c.id))
            .where(parent.c.id == up.c.parent_id, not_(parent.c.id == any_(up.c.path))))
    return up.union_all(step)


def subtree(session: Session, root_id: int) -> Sequence[tuple[int, int | None, str, int]]:
    """(id, parent_id, name, depth) for the root and all descendants, parents before children."""
    tree = subtree_cte(root_id)
    stmt = select(tree.c.id, tree.c.parent_id, tree.c.name, tree.c.depth).order_by(tree.c.path)
    return [(i, p, n, d) for i, p, n, d in session.execute(stmt).all()]


def ancestors(session: Session, account_id: int) -> Sequence[tuple[int, int | None, str, int]]:
    """(id, parent_id, name, depth) from the account itself (depth 0) up to its root."""
    up = ancestors_cte(account_id)
    stmt = select(up.c.id, up.c.parent_id, up.c.name, up.c.depth).order_by(up.c.depth)
    return [(i, p, n, d) for i, p, n, d in session.execute(stmt).all()]


def is_in_ancestry(session: Session, account_id: int, candidate_id: int) -> bool:
    """Whether `candidate_id` is `account_id` itself or one of its ancestors."""
    up = ancestors_cte(account_id)
    return bool(session.scalar(select(func.count()).select_from(up).where(up.c.id == candidate_id)))


def lock_hierarchy(session: Session) -> None:
    """Held until the transaction ends: the cycle check and the write then see no concurrent move."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HIERARCHY_LOCK_KEY})


def children_count(session: Session, account_id: int) -> int:
    return int(session.scalar(select(func.count()).where(Account.parent_id == account_id)) or 0)


def _rollup_rows(pairs: CTE, today: date) -> CompoundSelect:
    """One row per (anchor, metric, currency): counts and sums over each anchor's whole subtree."""
    anchor = pairs.c.anchor
    no_ccy = null().cast(String(3))
    no_amount = null().cast(Account.annual_revenue.type)

    def metric(name: str, stmt: Select) -> Select:
        return stmt.add_columns(literal(name, String(16)).label("metric"))

    paid = (select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == Invoice.id)
            .scalar_subquery())
    balance = Invoice.amount - paid
    parts = [
        metric("accounts", select(anchor, no_ccy, func.count(), no_amount).group_by(anchor)),
        metric("contacts", select(anchor, no_ccy, func.count(), no_amount)
               .join(Contact, Contact.account_id == pairs.c.id).group_by(anchor)),
        metric("open_deals", select(anchor, Deal.currency, func.count(), func.sum(Deal.amount))
               .join(Deal, and_(Deal.account_id == pairs.c.id, Deal.status == DealStatus.open))
               .group_by(anchor, Deal.currency)),
        metric("won_deals", select(anchor, Deal.currency, func.count(), func.sum(Deal.amount))
               .join(Deal, and_(Deal.account_id == pairs.c.id, Deal.status == DealStatus.won))
               .group_by(anchor, Deal.currency)),
        metric("arr", select(anchor, Contract.currency, func.count(), func.sum(Contract.arr))
               .join(Contract, and_(Contract.account_id == pairs.c.id,
                                    Contract.status == ContractStatus.active,
                                    Contract.start_date <= today, Contract.end_date >= today))
               .group_by(anchor, Contract.currency)),
        metric("ar_balance", select(anchor, Invoice.currency, func.count(), func.sum(balance))
               .join(Invoice, and_(Invoice.account_id == pairs.c.id, Invoice.status == InvoiceStatus.open))
               .where(balance > 0).group_by(anchor, Invoice.currency)),
        metric("ar_overdue", select(anchor, Invoice.currency, func.count(), func.sum(balance))
               .join(Invoice, and_(Invoice.account_id == pairs.c.id, Invoice.status == InvoiceStatus.open,
                                   Invoice.due_on < today))
               .where(balance > 0).group_by(anchor, Invoice.currency)),
    ]
    return union_all(*parts)


def rollup_rows(session: Session, root_id: int, today: date, per_node: bool
                ) -> Sequence[tuple[int, str, str | None, int, Decimal | None]]:
    """(anchor, metric, currency, count, amount) for the root's subtree, or for every node's own subtree.

    Each node's subtree is found by expanding its id path (closure pairs), so all anchors come from one
    recursive walk and one statement.
    """
    tree = subtree_cte(root_id)
    if per_node:
        pairs = select(func.unnest(tree.c.path).label("anchor"), tree.c.id).cte("pairs")
    else:
        pairs = select(literal(root_id, BigInteger).label("anchor"), tree.c.id).cte("pairs")
    stmt = _rollup_rows(pairs, today)
    return [(int(a), m, c, int(n), amt) for a, c, n, amt, m in session.execute(stmt).all()]
