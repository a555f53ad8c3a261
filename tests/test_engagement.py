"""Contacts, activities, tasks, NPS and payments: validation and the outbox events they emit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import ContactEmail, OutboxEvent
from core.models.enums import ActivityKind, InvoiceStatus, TaskSource
from core.repositories import events
from core.services import engagement
from tests import factories as f


def test_contact_with_several_emails_emits_contact_created(session: Session) -> None:
    acct = f.account(session)
    contact = engagement.create_contact(session, first_name="Linh", last_name="Tran", account_id=acct.id,
                                        emails=["linh@a.vn", "linh.tran@gmail.com"], phones=["+84 90"])
    rows = session.scalars(select(ContactEmail).where(ContactEmail.contact_id == contact.id)
                           .order_by(ContactEmail.id)).all()
    assert [(r.email, r.is_primary) for r in rows] == [("linh@a.vn", True), ("linh.tran@gmail.com", False)]
    assert [e.topic for e in events.events_for(session, "contact", contact.id)] == ["contact.created"]
    with pytest.raises(InvalidInput, match=r"emails\[0\]"):
        engagement.create_contact(session, first_name="X", emails=["not-an-email"])


def test_activity_needs_a_link_and_emits_activity_logged(session: Session) -> None:
    acct = f.account(session)
    with pytest.raises(InvalidInput, match="activity"):
        engagement.log_activity(session, kind=ActivityKind.call, subject="orphan")
    act = engagement.log_activity(session, kind=ActivityKind.meeting, subject="QBR", account_id=acct.id)
    [event] = events.events_for(session, "activity", act.id)
    assert event.topic == "activity.logged" and event.payload["account_id"] == acct.id


def test_nps_category_is_derived_from_the_score(session: Session) -> None:
    acct = f.account(session)
    cats = [engagement.record_nps_response(session, account_id=acct.id, score=s).category for s in (0, 6, 7, 8, 9, 10)]
    assert cats == ["detractor", "detractor", "passive", "passive", "promoter", "promoter"]
    with pytest.raises(InvalidInput, match="score"):
        engagement.record_nps_response(session, account_id=acct.id, score=11)
    mine = OutboxEvent.payload["account_id"].as_integer() == acct.id
    topics = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic == "nps.response_received", mine))
    assert len(topics.all()) == 6


def test_database_constraints_back_the_services(session: Session) -> None:
    acct = f.account(session)
    with pytest.raises(IntegrityError, match="score_range"), session.begin_nested():
        f.nps(session, acct.id, score=42)


def test_task_idempotency_key_prevents_duplicates(session: Session) -> None:
    acct = f.account(session)
    with pytest.raises(InvalidInput, match="agent_run_id"):
        engagement.create_task(session, title="Call back", source=TaskSource.agent)
    a = engagement.create_task(session, title="Call back", account_id=acct.id, idempotency_key="k-1")
    b = engagement.create_task(session, title="Call back", account_id=acct.id, idempotency_key="k-1")
    assert a.id == b.id


def test_partial_payments_settle_the_invoice(session: Session) -> None:
    acct = f.account(session)
    inv = f.invoice(session, acct.id, amount=Decimal("100.00"))
    engagement.record_payment(session, inv.id, Decimal("40.00"), date(2026, 2, 1))
    assert inv.status is InvoiceStatus.open
    with pytest.raises(InvalidInput, match="amount: exceeds the open balance of 60.00"):
        engagement.record_payment(session, inv.id, Decimal("70.00"), date(2026, 2, 2))
    engagement.record_payment(session, inv.id, Decimal("60.00"), date(2026, 2, 3))
    assert inv.status is InvoiceStatus.paid


def test_constraint_violations_read_as_one_sentence(session: Session) -> None:
    from core.db.errors import describe

    acct = f.account(session)
    with pytest.raises(IntegrityError) as caught, session.begin_nested():
        f.nps(session, acct.id, score=42)
    message = describe(caught.value)
    assert message.startswith("the database refused the change (table nps_responses")
    assert "constraint ck_nps_responses_score_range" in message and "42" in message
