"""The Customer 360 page's forms (TestClient on the rolled-back session, like tests/test_web_pages.py): a steward
logs an NPS answer (the outbox event the NPS Follow-up reacts to), opens a ticket and moves its status, records
payments until the invoice is paid, and edits tags and custom fields; refused values re-render the page with the
message naming the field and write nothing; someone who only sees the account gets no customer-success forms and
a forged post is refused (403), someone outside the scope gets 404."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Account, AuditLog, Invoice, NpsResponse, OutboxEvent, Payment, Ticket
from core.models.enums import CustomFieldType, InvoiceStatus, SegmentEntity, TicketStatus
from core.services import auth as auth_service
from core.services import custom_fields
from tests import factories
from tests.api_support import World, build_world
from tests.test_web_pages import PASSWORD, _email, no_trace, signed_in


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    for name in w.users:
        auth_service.set_password(session, _email(session, w, name), PASSWORD)
    return w


def _count(session: Session, model: Any, *where: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _post(client: TestClient, path: str, csrf: str, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


def _followed(client: TestClient, response: Any, account_id: int) -> str:
    assert response.status_code == 303, response.text[:800]
    assert response.headers["location"].startswith(f"/app/accounts/{account_id}?msg=")
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    return page.text


def _error(response: Any) -> str:
    no_trace(response)
    match = re.search(r'data-testid="form-error">([^<]*)<', response.text)
    assert match, response.text[:1500]
    return match.group(1)


def test_a_csm_logs_an_nps_answer_and_the_follow_up_event_is_written(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "csm_a")
    page = client.get(f"/app/accounts/{a.account_id}")
    assert 'data-testid="nps-form"' in page.text and f'value="{a.contact_id}"' in page.text
    before = _count(session, NpsResponse, NpsResponse.account_id == a.account_id)

    assert client.post(f"/app/accounts/{a.account_id}/nps", data={"score": "3"}).status_code == 403  # no CSRF
    wrong = _post(client, f"/app/accounts/{a.account_id}/nps", csrf, score="eleven", comment="keep me")
    assert wrong.status_code == 422 and _error(wrong) == "score: must be a whole number"
    assert "keep me" in wrong.text  # what was typed comes back
    too_high = _post(client, f"/app/accounts/{a.account_id}/nps", csrf, score="11")
    assert too_high.status_code == 422 and _error(too_high).startswith("score: ")
    assert _count(session, NpsResponse, NpsResponse.account_id == a.account_id) == before

    done = _post(client, f"/app/accounts/{a.account_id}/nps", csrf, score="3", contact_id=str(a.contact_id),
                 comment="Exports time out every Monday")
    text = _followed(client, done, a.account_id)
    assert "NPS answer 3/10 logged (detractor)" in text
    rows = re.findall(r'<tr data-testid="nps-row">(.*?)</tr>', text, re.S)
    assert "Exports time out every Monday" in rows[0]
    answer = session.scalars(select(NpsResponse).where(NpsResponse.comment == "Exports time out every Monday")).one()
    assert (answer.score, answer.contact_id) == (3, a.contact_id)
    event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "nps.response_received",
                                                      OutboxEvent.aggregate_id == answer.id)).one()
    assert event.payload["account_id"] == a.account_id and event.payload["category"] == "detractor"
    assert _count(session, AuditLog, AuditLog.entity_type == "nps_response", AuditLog.entity_id == answer.id,
                  AuditLog.actor_id == world.users["csm_a"]) == 1


def test_a_ticket_is_opened_and_moved_through_the_allowed_statuses(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "csm_a")
    missing = _post(client, f"/app/accounts/{a.account_id}/tickets", csrf, subject=" ", priority="high")
    assert missing.status_code == 422 and _error(missing) == "subject: is required"
    bad = _post(client, f"/app/accounts/{a.account_id}/tickets", csrf, subject="SSO broken", priority="asap")
    assert bad.status_code == 422 and _error(bad).startswith("priority: must be one of")
    assert _count(session, Ticket, Ticket.subject == "SSO broken") == 0

    text = _followed(client, _post(client, f"/app/accounts/{a.account_id}/tickets", csrf, subject="SSO broken",
                                   priority="high", description="Nobody can sign in"), a.account_id)
    ticket = session.scalars(select(Ticket).where(Ticket.subject == "SSO broken")).one()
    assert f"Ticket #{ticket.id} opened" in text and f'data-testid="ticket-{ticket.id}"' in text
    assert (ticket.status, ticket.assignee_id, ticket.priority) == (TicketStatus.open, world.users["csm_a"], "high")

    text = _followed(client, _post(client, f"/app/tickets/{ticket.id}/status", csrf, status="solved"), a.account_id)
    assert f"Ticket #{ticket.id} is now solved" in text
    session.expire_all()
    assert ticket.status is TicketStatus.solved and ticket.resolved_at is not None
    refused = _post(client, f"/app/tickets/{ticket.id}/status", csrf, status="pending")  # solved -> pending: no
    assert refused.status_code == 409 and "it may move to open, closed" in _error(refused)
    session.expire_all()
    assert ticket.status is TicketStatus.solved


def test_payments_until_the_invoice_is_paid(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "rep_a")  # the account manager is a steward too
    invoice_id = a.invoice_id
    page = client.get(f"/app/accounts/{a.account_id}")
    assert f'data-testid="payment-form-{invoice_id}"' in page.text
    for amount, message in (("abc", "amount: must be an amount such as 1250.00"),
                            ("NaN", "amount: must be an amount such as 1250.00"),
                            ("-5", "amount: must be positive"),
                            ("10.005", "amount: must be an amount with at most two decimals"),
                            ("150", "amount: exceeds the open balance of 100.00 USD")):
        wrong = _post(client, f"/app/invoices/{invoice_id}/payments", csrf, amount=amount, method="card")
        assert wrong.status_code == 422 and _error(wrong) == message, amount
    assert _count(session, Payment, Payment.invoice_id == invoice_id) == 0

    text = _followed(client, _post(client, f"/app/invoices/{invoice_id}/payments", csrf, amount="40",
                                   paid_on="2026-02-03", method="card"), a.account_id)
    assert "(open)" in text and f'data-testid="invoice-{invoice_id}"' in text
    text = _followed(client, _post(client, f"/app/invoices/{invoice_id}/payments", csrf, amount="60.00",
                                   method="bank_transfer"), a.account_id)
    assert "Payment of 60.00 USD recorded" in text and "(paid)" in text
    assert f'data-testid="invoice-{invoice_id}"' not in text  # no longer unpaid
    invoice = session.get_one(Invoice, invoice_id)
    assert invoice.status is InvoiceStatus.paid
    assert _count(session, OutboxEvent, OutboxEvent.topic == "payment.received",
                  OutboxEvent.aggregate_id == invoice_id) == 2
    again = _post(client, f"/app/invoices/{invoice_id}/payments", csrf, amount="1", method="card")
    assert again.status_code == 409 and "takes no payment" in _error(again)


def test_tags_are_normalised_and_a_wrong_custom_field_names_the_field_and_writes_nothing(
        session: Session, world: World) -> None:
    a = world.sides["a"]
    for key, kind in (("seats_planned", CustomFieldType.number), ("kickoff", CustomFieldType.date),
                      ("strategic", CustomFieldType.boolean), ("sponsor", CustomFieldType.text)):
        custom_fields.define(session, SegmentEntity.account, key, key.replace("_", " ").title(), kind,
                             actor="test", actor_id=None)
    client, csrf = signed_in(session, world, "csm_a")
    page = client.get(f"/app/accounts/{a.account_id}")
    assert 'name="cf_seats_planned"' in page.text and 'type="date" id="cf_kickoff"' in page.text
    assert 'type="checkbox" name="cf_strategic"' in page.text

    text = _followed(client, _post(client, f"/app/accounts/{a.account_id}/labels", csrf,
                                   tags=" VIP, Churn  risk ,vip,", cf_seats_planned="120", cf_kickoff="2026-03-01",
                                   cf_strategic="1", cf_sponsor="Dana Lee"), a.account_id)
    assert "Tags and fields saved" in text and 'value="vip, churn risk"' in text
    account = session.get_one(Account, a.account_id)
    assert account.tags == ["vip", "churn risk"]
    assert account.custom_fields == {"seats_planned": 120, "kickoff": "2026-03-01", "strategic": True,
                                     "sponsor": "Dana Lee"}
    assert _count(session, OutboxEvent, OutboxEvent.topic == "account.updated",
                  OutboxEvent.aggregate_id == a.account_id) == 1
    audits = _count(session, AuditLog, AuditLog.entity_type == "account", AuditLog.entity_id == a.account_id)

    wrong = _post(client, f"/app/accounts/{a.account_id}/labels", csrf, tags="other", cf_seats_planned="many",
                  cf_kickoff="2026-03-01", cf_strategic="1", cf_sponsor="Dana Lee")
    assert wrong.status_code == 422
    assert _error(wrong) == "custom_fields.seats_planned: must be a number"
    assert 'value="many"' in wrong.text and 'value="other"' in wrong.text
    bad_day = _post(client, f"/app/accounts/{a.account_id}/labels", csrf, tags="vip", cf_kickoff="March 1st")
    assert _error(bad_day) == "custom_fields.kickoff: must be a date as YYYY-MM-DD"
    session.expire_all()
    account = session.get_one(Account, a.account_id)
    assert account.tags == ["vip", "churn risk"] and account.custom_fields["seats_planned"] == 120
    assert _count(session, AuditLog, AuditLog.entity_type == "account",
                  AuditLog.entity_id == a.account_id) == audits

    # unticking the box and emptying a field removes them; the rest stays
    text = _followed(client, _post(client, f"/app/accounts/{a.account_id}/labels", csrf, tags="vip, churn risk",
                                   cf_seats_planned="120", cf_kickoff="", cf_sponsor="Dana Lee"), a.account_id)
    session.expire_all()
    assert session.get_one(Account, a.account_id).custom_fields == {"seats_planned": 120, "strategic": False,
                                                                      "sponsor": "Dana Lee"}


def test_a_rep_who_only_sees_the_account_gets_no_success_forms_and_forged_posts_are_refused(
        session: Session, world: World) -> None:
    a = world.sides["a"]
    factories.deal(session, name="rep_a2 on A", owner_id=world.users["rep_a2"], account_id=a.account_id)
    client, csrf = signed_in(session, world, "rep_a2")
    page = client.get(f"/app/accounts/{a.account_id}")
    assert page.status_code == 200 and a.marker in page.text  # sees the account (holds a deal on it)
    for form in ('data-testid="nps-form"', 'data-testid="ticket-form"', f'data-testid="payment-form-{a.invoice_id}"',
                 f'action="/app/tickets/{a.ticket_id}/status"'):
        assert form not in page.text, form
    # tags and custom fields follow PATCH /accounts/{id}, which anyone who sees the account may send
    assert 'data-testid="labels-form"' in page.text

    nps_before = _count(session, NpsResponse, NpsResponse.account_id == a.account_id)
    forged = [(f"/app/accounts/{a.account_id}/nps", {"score": "0"}),
              (f"/app/accounts/{a.account_id}/tickets", {"subject": "forged", "priority": "low"}),
              (f"/app/tickets/{a.ticket_id}/status", {"status": "closed"}),
              (f"/app/invoices/{a.invoice_id}/payments", {"amount": "100", "method": "card"})]
    for path, data in forged:
        refused = _post(client, path, csrf, **data)
        assert refused.status_code == 403, (path, refused.text[:300])
        no_trace(refused)
    outsider, outsider_csrf = signed_in(session, world, "rep_b")
    for path, data in [*forged, (f"/app/accounts/{a.account_id}/labels", {"tags": "forged"})]:
        hidden = _post(outsider, path, outsider_csrf, **data)
        assert hidden.status_code == 404 and a.marker not in hidden.text, path
    assert _count(session, NpsResponse, NpsResponse.account_id == a.account_id) == nps_before
    assert _count(session, Ticket, Ticket.subject == "forged") == 0
    assert _count(session, Payment, Payment.invoice_id == a.invoice_id) == 0
    assert session.get_one(Ticket, a.ticket_id).status is TicketStatus.open
    assert "forged" not in session.get_one(Account, a.account_id).tags
    assert session.get_one(Invoice, a.invoice_id).amount == Decimal("100")
