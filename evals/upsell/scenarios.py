"""The suites' accounts, read from cases.jsonl: each case row is one customer account, its facts relative to
the suite's clock, and the signals a person expects on it (written by hand from the rules in tools/upsell/signals.py
and the suite's thresholds, the settings defaults; not derived from the code under test).

Row fields (all optional but `name`): `role` ("case", default, or "peer": a customer whose purchases only shape
the cross-sell neighbourhood), `products` (SKUs bought), `seat_limit` (default 50, null: none), `arr` (default
12000), `usage` ([[days_ago, active_users, logins, seats_used], ...]), `new_contacts` ([days_ago, ...]),
`old_contacts` (how many added `old_contact_days`, default 200, ago), `nps` ([score, days_ago]), `old_nps`,
`activities` ([days_ago, ...]), `invoices` ([{"issued": days_ago, "paid": true|false|"half", "due_in": days}]),
`vector` ([axis, tilt]: a description embedding pointing along that axis, for the pgvector neighbours of a
customer without purchases), `expected` (signal names), `strong` (detector kinds expected to propose a deal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import (
    Account,
    Activity,
    Contact,
    Contract,
    Invoice,
    NpsResponse,
    Payment,
    PriceBook,
    PriceBookEntry,
    Product,
    SalesOrder,
    SalesOrderLine,
    TextEmbedding,
    UsageSnapshot,
    User,
)
from core.models.enums import ActivityKind, InvoiceStatus, Lifecycle, Role
from core.models.llm import EMBEDDING_DIMS
from core.repositories.sales import next_number
from core.services import deals as deal_service
from tools.upsell.signals import ALL_SIGNALS, SIGNALS

PATH = Path(__file__).with_name("cases.jsonl")
MANAGER_EMAIL = "am@seller.test"
PRODUCTS = {"CORE": ("Core platform", "9000"), "ANL": ("Analytics", "3000"), "SEC": ("Security pack", "2500"),
            "TRN": ("Training days", "1500"), "NICHE": ("Niche add-on", "800")}
KNOWN = {"name", "role", "products", "vector", "seat_limit", "arr", "usage", "new_contacts", "old_contacts",
         "old_contact_days", "nps", "old_nps", "activities", "invoices", "expected", "strong"}


@dataclass(frozen=True)
class Case:
    name: str
    role: str = "case"
    row: dict[str, Any] = field(default_factory=dict)
    expected: frozenset[str] = frozenset()
    strong: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Built:
    case: Case
    account_id: int


def load(path: Path = PATH) -> list[Case]:
    """The rows as cases; a bad row is an error naming its line and field."""
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(where, f"not JSON: {exc}") from exc
        unknown = set(row) - KNOWN
        if unknown or not row.get("name"):
            raise InvalidInput(where, f"needs a name; unknown fields {sorted(unknown)}")
        expected = set(row.get("expected", []))
        if expected - set(ALL_SIGNALS):
            raise InvalidInput(f"{where}.expected", f"unknown signals {sorted(expected - set(ALL_SIGNALS))}")
        strong = set(row.get("strong", []))
        if strong - set(SIGNALS):
            raise InvalidInput(f"{where}.strong", f"unknown detector kinds {sorted(strong - set(SIGNALS))}")
        if set(row.get("products", [])) - set(PRODUCTS):
            raise InvalidInput(f"{where}.products", f"unknown SKUs; known: {', '.join(PRODUCTS)}")
        cases.append(Case(row["name"], row.get("role", "case"), row, frozenset(expected), frozenset(strong)))
    return cases


def _catalog(session: Session) -> dict[str, int]:
    book = PriceBook(name="Suite list prices", is_default=True)
    session.add(book)
    session.flush()
    ids = {}
    for sku, (name, price) in PRODUCTS.items():
        product = Product(sku=sku, name=name, is_recurring=True)
        session.add(product)
        session.flush()
        session.add(PriceBookEntry(price_book_id=book.id, product_id=product.id, currency="USD",
                                   unit_price=Decimal(price)))
        ids[sku] = product.id
    return ids


def _build(session: Session, case: Case, now: datetime, n: int, manager_id: int, products: dict[str, int]) -> int:
    row = case.row
    today = now.date()
    account = Account(name=f"Scenario {n} Ltd", currency="USD", lifecycle=Lifecycle.customer,
                      account_manager_id=manager_id)
    session.add(account)
    session.flush()
    aid = account.id
    if case.role == "case":
        session.add(Contract(account_id=aid, plan="Pro", start_date=today - timedelta(days=200),
                             end_date=today + timedelta(days=165), arr=Decimal(str(row.get("arr", 12000))),
                             seat_limit=row.get("seat_limit", 50)))
    if row.get("products"):
        order = SalesOrder(number=next_number(session, "order_number_seq", "SO-"), account_id=aid, currency="USD",
                           total=Decimal(0), ordered_at=now - timedelta(days=150))
        session.add(order)
        session.flush()
        for pos, sku in enumerate(row["products"], start=1):
            price = Decimal(PRODUCTS[sku][1])
            session.add(SalesOrderLine(order_id=order.id, position=pos, product_id=products[sku],
                                       description=PRODUCTS[sku][0], quantity=Decimal(1), unit_price=price,
                                       line_total=price))
    if row.get("vector"):
        axis, tilt = row["vector"]
        vector = [0.0] * EMBEDDING_DIMS
        vector[axis], vector[axis + 1] = 1.0, float(tilt)
        session.add(TextEmbedding(source="account_description", entity_id=aid, account_id=aid,
                                  content_hash=f"suite-{n}", model="suite", embedding=vector))
    for days, active, logins, seats in row.get("usage", []):
        session.add(UsageSnapshot(account_id=aid, captured_on=today - timedelta(days=days), logins=logins,
                                  active_users=active, seats_used=seats))
    old_days = int(row.get("old_contact_days", 200))
    ages = [*row.get("new_contacts", []), *([old_days] * int(row.get("old_contacts", 0)))]
    for i, days in enumerate(ages):
        session.add(Contact(account_id=aid, first_name=f"Person{i}", last_name=f"S{n}", title="Analyst",
                            created_at=now - timedelta(days=days, hours=1)))
    for nps in (row.get("old_nps"), row.get("nps")):
        if nps:
            session.add(NpsResponse(account_id=aid, score=nps[0], responded_at=now - timedelta(days=nps[1])))
    for days in row.get("activities", []):
        session.add(Activity(kind=ActivityKind.meeting, subject="Check-in", account_id=aid,
                             occurred_at=now - timedelta(days=days, hours=1)))
    session.flush()
    for i, inv in enumerate(row.get("invoices", [])):
        issued = today - timedelta(days=inv["issued"])
        due = issued + timedelta(days=inv.get("due_in", 30))
        paid = inv.get("paid", True)
        invoice = Invoice(number=f"INV-S{n}-{i}", account_id=aid, currency="USD", amount=Decimal("1000"),
                          issued_on=issued, due_on=due,
                          status=InvoiceStatus.paid if paid is True else InvoiceStatus.open)
        session.add(invoice)
        session.flush()
        if paid is True or paid == "half":
            session.add(Payment(invoice_id=invoice.id, amount=Decimal("1000") if paid is True else Decimal("500"),
                                paid_on=min(due, today)))
    session.flush()
    return aid


def build_all(session: Session, now: datetime, cases: list[Case]) -> list[Built]:
    """Every row's account (peers too) with a shared catalog, a default pipeline and one account manager."""
    manager = User(email=MANAGER_EMAIL, full_name="Alex Manager", role=Role.rep)
    session.add(manager)
    session.flush()
    deal_service.create_pipeline(session, "Sales", is_default=True)
    products = _catalog(session)
    return [Built(case, _build(session, case, now, n, manager.id, products)) for n, case in enumerate(cases, start=1)]
