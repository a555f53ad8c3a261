"""The suite's quotes: each one a small CRM world (rep, account, contact, deal, quote) and the expected action.

Rules the expectations encode (settings of the suite: nudge after 5 days, 10 in the "Enterprise" pipeline,
escalate within 3 days of the validity date): a sent, unanswered, unexpired quote gets a nudge once it is N days
old, then one per further N days; near its validity date it gets a last nudge and an urgent task; without a
contact email the rep gets the task only. Written by hand, not derived from the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.models import Account, Contact, ContactEmail, Quote, User
from core.models.enums import QuoteStatus, Role
from core.services import deals as deal_service
from core.services import quotes

SETTINGS: dict[str, Any] = {"quote_followup_after_days": 5,
                            "quote_followup_after_days_by_pipeline": {"Enterprise": 10},
                            "quote_followup_escalate_days": 3}
ACTIONS = ("nudge", "escalate", "task", "none")


@dataclass(frozen=True)
class Scenario:
    name: str
    expected: str  # nudge (draft + task) | escalate (draft + high-priority task) | task (no email) | none
    window: str | None = None
    status: str = "sent"
    sent_days_ago: int | None = None
    valid_in_days: int | None = 30
    pipeline: str = "Sales"
    email: bool = True
    contact: bool = True
    answered: bool = False
    language: str | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("sent 2 days ago", "none", sent_days_ago=2),
    Scenario("sent 4 days ago", "none", sent_days_ago=4),
    Scenario("sent 5 days ago", "nudge", "w1", sent_days_ago=5),
    Scenario("sent 7 days ago", "nudge", "w1", sent_days_ago=7),
    Scenario("sent 10 days ago", "nudge", "w2", sent_days_ago=10),
    Scenario("sent 16 days ago", "nudge", "w3", sent_days_ago=16),
    Scenario("sent 30 days ago, valid 60 more", "nudge", "w6", sent_days_ago=30, valid_in_days=60),
    Scenario("sent 6 days ago, no validity date", "nudge", "w1", sent_days_ago=6, valid_in_days=None),
    Scenario("sent 5 days ago, German contact", "nudge", "w1", sent_days_ago=5, language="de"),
    Scenario("sent 8 days ago, valid 2 more days", "escalate", "final", sent_days_ago=8, valid_in_days=2),
    Scenario("sent yesterday, valid 3 more days", "escalate", "final", sent_days_ago=1, valid_in_days=3),
    Scenario("sent 6 days ago, valid until today", "escalate", "final", sent_days_ago=6, valid_in_days=0),
    Scenario("sent 3 days ago, valid 4 more days", "none", sent_days_ago=3, valid_in_days=4),
    Scenario("sent today, valid 1 more day", "none", sent_days_ago=0, valid_in_days=1),
    Scenario("sent 20 days ago, validity passed yesterday", "none", sent_days_ago=20, valid_in_days=-1),
    Scenario("accepted", "none", status="accepted", sent_days_ago=9),
    Scenario("rejected", "none", status="rejected", sent_days_ago=12),
    Scenario("marked expired", "none", status="expired", sent_days_ago=40, valid_in_days=-5),
    Scenario("draft, never sent", "none", status="draft"),
    Scenario("sent 8 days ago, customer answered", "none", sent_days_ago=8, answered=True),
    Scenario("Enterprise, sent 7 days ago", "none", sent_days_ago=7, pipeline="Enterprise"),
    Scenario("Enterprise, sent 10 days ago", "nudge", "w1", sent_days_ago=10, pipeline="Enterprise"),
    Scenario("Enterprise, sent 25 days ago", "nudge", "w2", sent_days_ago=25, pipeline="Enterprise"),
    Scenario("Enterprise, sent 9 days ago, valid 2 more days", "escalate", "final", sent_days_ago=9,
             valid_in_days=2, pipeline="Enterprise"),
    Scenario("sent 6 days ago, contact without email", "task", "w1", sent_days_ago=6, email=False),
    Scenario("sent 12 days ago, no contact", "task", "w2", sent_days_ago=12, contact=False),
    Scenario("no email, valid 1 more day", "task", "final", sent_days_ago=4, valid_in_days=1, email=False),
)


@dataclass(frozen=True)
class Built:
    scenario: Scenario
    quote_id: int
    rep_id: int


def pipelines(session: Session) -> dict[str, int]:
    """The default pipeline "Sales" and an "Enterprise" one (its own nudge delay)."""
    sales = deal_service.create_pipeline(session, "Sales", is_default=True)
    enterprise = deal_service.create_pipeline(session, "Enterprise")
    return {"Sales": sales.id, "Enterprise": enterprise.id}


def build(session: Session, scenario: Scenario, now: datetime, pipeline_ids: dict[str, int], n: int) -> Built:
    """One scenario's world, its dates relative to `now`."""
    rep = User(email=f"rep{n}@seller.test", full_name=f"Rep {n}", role=Role.rep)
    session.add(rep)
    session.flush()
    account = Account(name=f"Customer {n} Ltd", currency="USD", account_manager_id=rep.id)
    session.add(account)
    session.flush()
    contact_id = None
    if scenario.contact:
        contact = Contact(first_name=f"Dana{n}", last_name="Buyer", account_id=account.id,
                          language=scenario.language)
        session.add(contact)
        session.flush()
        contact_id = contact.id
        if scenario.email:
            session.add(ContactEmail(contact_id=contact.id, email=f"dana{n}@customer{n}.test", is_primary=True))
    deal = deal_service.create_deal(session, name=f"Platform for customer {n}", amount=Decimal("12000"),
                                    account_id=account.id, owner_id=rep.id,
                                    pipeline_id=pipeline_ids[scenario.pipeline], now=now - timedelta(days=60))
    valid_until = (now + timedelta(days=scenario.valid_in_days)).date() if scenario.valid_in_days is not None else None
    quote = quotes.create_quote(session, account_id=account.id, contact_id=contact_id, deal_id=deal.id,
                                valid_until=valid_until, created_by_id=rep.id,
                                lines=[quotes.LineInput(quantity=Decimal(1), description="Platform licence",
                                                        unit_price=Decimal("12000"))])
    if scenario.status != "draft" and scenario.sent_days_ago is not None:
        sent_at = now - timedelta(days=scenario.sent_days_ago, hours=1)
        quotes.send_quote(session, quote.id, now=sent_at)
        if scenario.status == "accepted":
            quotes.accept_quote(session, quote.id, now=now - timedelta(days=2))
        elif scenario.status == "rejected":
            quotes.reject_quote(session, quote.id, now=now - timedelta(days=2))
        elif scenario.status == "expired":
            row = session.get(Quote, quote.id)
            assert row is not None
            row.status = QuoteStatus.expired
        elif scenario.answered:
            row = session.get(Quote, quote.id)
            assert row is not None
            row.responded_at = now - timedelta(days=1)
    session.flush()
    return Built(scenario, quote.id, rep.id)


def build_all(session: Session, now: datetime, scenarios: tuple[Scenario, ...] = SCENARIOS) -> list[Built]:
    ids = pipelines(session)
    return [build(session, scenario, now, ids, n) for n, scenario in enumerate(scenarios, start=1)]
