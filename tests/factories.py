"""Small builders for test data: each returns a flushed row with sensible defaults, overridable by keyword."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.models import (
    Account,
    Activity,
    Contact,
    ContactEmail,
    Contract,
    Invoice,
    NpsResponse,
    Payment,
    PriceBook,
    PriceBookEntry,
    Product,
    Ticket,
    UsageSnapshot,
    User,
)
from core.models.enums import ActivityKind, Role
from core.services import deals as deal_service
from core.services import leads as lead_service

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def _add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def user(session: Session, **kw: Any) -> User:
    n = _n()
    return _add(session, User(**({"email": f"user{n}@example.test", "full_name": f"User {n}", "role": Role.rep} | kw)))


def account(session: Session, **kw: Any) -> Account:
    return _add(session, Account(**({"name": f"Account {_n()}", "currency": "USD"} | kw)))


def contact(session: Session, email: str | None = None, **kw: Any) -> Contact:
    n = _n()
    row = _add(session, Contact(**({"first_name": f"First{n}", "last_name": f"Last{n}"} | kw)))
    if email:
        _add(session, ContactEmail(contact_id=row.id, email=email, is_primary=True))
    return row


def lead(session: Session, **kw: Any):  # type: ignore[no-untyped-def]
    n = _n()
    return lead_service.create_lead(session, **({"first_name": f"Lead{n}", "last_name": f"Person{n}",
                                                  "email": f"lead{n}@example.test"} | kw))


def deal(session: Session, **kw: Any):  # type: ignore[no-untyped-def]
    return deal_service.create_deal(session, **({"name": f"Deal {_n()}", "amount": Decimal("1000")} | kw))


def activity(session: Session, **kw: Any) -> Activity:
    return _add(session, Activity(**({"kind": ActivityKind.call, "subject": "Call",
                                      "occurred_at": datetime.now(UTC)} | kw)))


def product(session: Session, **kw: Any) -> Product:
    n = _n()
    return _add(session, Product(**({"sku": f"SKU-{n}", "name": f"Product {n}"} | kw)))


def price_book(session: Session, prices: dict[tuple[int, str], Decimal] | None = None, **kw: Any) -> PriceBook:
    book = _add(session, PriceBook(**({"name": f"Book {_n()}"} | kw)))
    for (product_id, currency), price in (prices or {}).items():
        _add(session, PriceBookEntry(price_book_id=book.id, product_id=product_id, currency=currency,
                                     unit_price=price))
    return book


def ticket(session: Session, account_id: int, **kw: Any) -> Ticket:
    return _add(session, Ticket(**({"account_id": account_id, "subject": "Help"} | kw)))


def invoice(session: Session, account_id: int, paid: Decimal | None = None, **kw: Any) -> Invoice:
    n = _n()
    row = _add(session, Invoice(**({"number": f"INV-T{n}", "account_id": account_id, "currency": "USD",
                                    "amount": Decimal("100"), "issued_on": date(2026, 1, 1),
                                    "due_on": date(2026, 1, 31)} | kw)))
    if paid:
        _add(session, Payment(invoice_id=row.id, amount=paid, paid_on=row.issued_on))
    return row


def nps(session: Session, account_id: int, score: int, **kw: Any) -> NpsResponse:
    return _add(session, NpsResponse(**({"account_id": account_id, "score": score} | kw)))


def contract(session: Session, account_id: int, **kw: Any) -> Contract:
    return _add(session, Contract(**({"account_id": account_id, "plan": "Pro", "start_date": date(2026, 1, 1),
                                      "end_date": date(2026, 12, 31), "arr": Decimal("12000"),
                                      "seat_limit": 50} | kw)))


def usage(session: Session, account_id: int, **kw: Any) -> UsageSnapshot:
    return _add(session, UsageSnapshot(**({"account_id": account_id, "captured_on": date(2026, 11, 1),
                                           "logins": 100, "active_users": 20, "seats_used": 25} | kw)))
