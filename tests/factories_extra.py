"""More builders for hierarchy, segment and Customer 360 tests: payments, chains, bulk activities."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.models import Account, Activity, Payment
from core.models.enums import ActivityKind

_seq = itertools.count(1)


def payment(session: Session, invoice_id: int, amount: Decimal, paid_on: date | None = None) -> Payment:
    row = Payment(invoice_id=invoice_id, amount=amount, paid_on=paid_on or date(2026, 1, 15))
    session.add(row)
    session.flush()
    return row


def account_chain(session: Session, length: int) -> list[int]:
    """A single line of accounts, each the parent of the next: ids from the root down."""
    ids: list[int] = []
    parent: int | None = None
    for i in range(length):
        row = Account(name=f"Chain {next(_seq)}-{i}", parent_id=parent)
        session.add(row)
        session.flush()
        ids.append(row.id)
        parent = row.id
    return ids


def activities(session: Session, count: int, start: datetime, step: timedelta, **links: Any) -> None:
    """`count` activities at start, start - step, ... in one statement (timelines in the thousands)."""
    kinds = list(ActivityKind)
    rows = [{"kind": kinds[i % len(kinds)], "subject": f"Touch {i}", "occurred_at": start - i * step} | links
            for i in range(count)]
    session.execute(insert(Activity), rows)
