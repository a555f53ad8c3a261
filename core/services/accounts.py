"""Account hierarchy: subtrees, paths to the root, roll-ups, and parent changes that never form a cycle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import Account
from core.repositories import accounts as repo
from core.repositories import events

Money = dict[str, Decimal]  # per currency: the CRM holds no exchange rates, so currencies are never mixed


@dataclass(frozen=True)
class AccountNode:
    id: int
    parent_id: int | None
    name: str
    depth: int


@dataclass
class Rollup:
    """Figures for an account and all its descendants.

    Active contracts are those with status active whose dates cover `now`; AR sums the unpaid part
    (amount minus payments) of open invoices; overdue AR is the part of it due before `now`'s date.
    """

    account_id: int
    accounts: int = 0
    contacts: int = 0
    open_deals: int = 0
    open_deal_amount: Money = field(default_factory=dict)
    won_deals: int = 0
    won_amount: Money = field(default_factory=dict)
    active_contracts: int = 0
    arr: Money = field(default_factory=dict)
    open_invoices: int = 0
    ar_balance: Money = field(default_factory=dict)
    overdue_invoices: int = 0
    ar_overdue: Money = field(default_factory=dict)


_COUNT_AND_AMOUNT = {
    "open_deals": ("open_deals", "open_deal_amount"),
    "won_deals": ("won_deals", "won_amount"),
    "arr": ("active_contracts", "arr"),
    "ar_balance": ("open_invoices", "ar_balance"),
    "ar_overdue": ("overdue_invoices", "ar_overdue"),
}


def _require(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account", account_id)
    return account


def subtree(session: Session, account_id: int) -> list[AccountNode]:
    """The account and every descendant at any depth (depth 0 is the account), parents before children."""
    rows = repo.subtree(session, account_id)
    if not rows:
        raise NotFound("account", account_id)
    return [AccountNode(*r) for r in rows]


def path_to_root(session: Session, account_id: int) -> list[AccountNode]:
    """Root first, the account itself last; depth counts from the root, as in a breadcrumb."""
    rows = repo.ancestors(session, account_id)
    if not rows:
        raise NotFound("account", account_id)
    top = len(rows) - 1
    return [AccountNode(i, p, n, top - d) for i, p, n, d in reversed(rows)]


def _fold(rows: Sequence[tuple[int, str, str | None, int, Decimal | None]]) -> dict[int, Rollup]:
    result: dict[int, Rollup] = {}
    for anchor, metric, currency, count, amount in rows:
        r = result.setdefault(anchor, Rollup(account_id=anchor))
        if metric in ("accounts", "contacts"):
            setattr(r, metric, count)
            continue
        count_attr, money_attr = _COUNT_AND_AMOUNT[metric]
        setattr(r, count_attr, getattr(r, count_attr) + count)
        if currency is not None:
            money: Money = getattr(r, money_attr)
            money[currency] = money.get(currency, Decimal(0)) + (amount or Decimal(0))
    return result


def rollup(session: Session, account_id: int, now: datetime | None = None) -> Rollup:
    """Totals over the account and all its descendants, in one statement whatever the depth."""
    _require(session, account_id)
    today = (now or datetime.now(UTC)).date()
    return _fold(repo.rollup_rows(session, account_id, today, per_node=False))[account_id]


def subtree_rollups(session: Session, account_id: int, now: datetime | None = None) -> dict[int, Rollup]:
    """Every node of the subtree with its own subtree's totals: what a hierarchy tree view shows per row."""
    _require(session, account_id)
    today = (now or datetime.now(UTC)).date()
    return _fold(repo.rollup_rows(session, account_id, today, per_node=True))


def set_parent(session: Session, account_id: int, parent_id: int | None, *, actor: str = "system",
               actor_id: int | None = None) -> Account:
    """Move an account under a new parent (or make it a root); refuses moves that would create a cycle."""
    repo.lock_hierarchy(session)
    account = _require(session, account_id)
    if parent_id is not None:
        if parent_id == account_id:
            raise InvalidInput("parent_id", f"account {account_id} cannot be its own parent")
        if session.get(Account, parent_id) is None:
            raise InvalidInput("parent_id", f"account {parent_id} does not exist")
        if repo.is_in_ancestry(session, parent_id, account_id):
            raise InvalidInput("parent_id", f"account {parent_id} is a descendant of account {account_id}; "
                                            "making it the parent would create a cycle")
    if account.parent_id == parent_id:
        return account
    before = {"parent_id": account.parent_id}
    account.parent_id = parent_id
    session.flush()
    events.add_event(session, "account.parent_changed", "account", account.id,
                     {"from": before["parent_id"], "to": parent_id})
    events.add_audit(session, actor=actor, actor_id=actor_id, action="set_parent", entity_type="account",
                     entity_id=account.id, before=before, after={"parent_id": parent_id})
    session.flush()
    return account
