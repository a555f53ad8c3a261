"""The deal page's quotes (TestClient on the rolled-back session, like tests/test_web_pages.py): each quote with
its status and the buttons its status allows; Send / Accept / Reject (with reason) / Create order post to page
routes that run the same services as the API, with the CSRF token, and come back to the deal page."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditLog, Deal, OutboxEvent, Quote, SalesOrder
from core.models.enums import DealStatus, QuoteStatus
from core.services import auth as auth_service
from tests import factories
from tests.api_support import World, build_world
from tests.test_web_pages import PASSWORD, _email, no_trace, signed_in


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    for name in w.users:
        auth_service.set_password(session, _email(session, w, name), PASSWORD)
    return w


def _row(page: str, quote_id: int) -> str:
    match = re.search(rf'<tr data-testid="quote-{quote_id}">(.*?)</tr>', page, re.S)
    assert match, page[:2000]
    return match.group(1)


def _status(session: Session, quote_id: int) -> QuoteStatus:
    session.expire_all()
    return session.get_one(Quote, quote_id).status


def test_the_deal_page_lists_its_quote_and_send_accept_and_order_change_it(session: Session, world: World) -> None:
    a = world.sides["a"]
    quote = session.get_one(Quote, a.quote_id)
    client, csrf = signed_in(session, world, "rep_a")
    page = client.get(f"/app/deals/{a.deal_id}")
    assert page.status_code == 200
    row = _row(page.text, a.quote_id)
    assert quote.number in row and ">draft<" in row and "200 USD" in row
    assert f'action="/app/quotes/{a.quote_id}/send"' in row and "/accept" not in row

    assert client.post(f"/app/quotes/{a.quote_id}/send", follow_redirects=False).status_code == 403  # no CSRF
    assert _status(session, a.quote_id) is QuoteStatus.draft
    sent = client.post(f"/app/quotes/{a.quote_id}/send", data={"csrf_token": csrf}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/app/deals/{a.deal_id}?msg=")
    assert _status(session, a.quote_id) is QuoteStatus.sent
    assert session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.topic == "quote.sent", OutboxEvent.aggregate_id == a.quote_id)) == 1
    page = client.get(sent.headers["location"])
    row = _row(page.text, a.quote_id)
    assert f"Quote {quote.number} sent" in page.text and ">sent<" in row
    assert f'action="/app/quotes/{a.quote_id}/accept"' in row and f'action="/app/quotes/{a.quote_id}/reject"' in row

    again = client.post(f"/app/quotes/{a.quote_id}/send", data={"csrf_token": csrf})
    assert again.status_code == 409 and "is sent" in again.text
    no_trace(again)

    accepted = client.post(f"/app/quotes/{a.quote_id}/accept", data={"csrf_token": csrf})
    assert accepted.status_code == 200  # followed the redirect back to the deal page
    order = session.scalars(select(SalesOrder).where(SalesOrder.quote_id == a.quote_id)).one()
    assert f"order {order.number} created" in accepted.text and order.number in _row(accepted.text, a.quote_id)
    assert session.get_one(Deal, a.deal_id).status is DealStatus.won
    ordered = client.post(f"/app/quotes/{a.quote_id}/order", data={"csrf_token": csrf})
    assert ordered.status_code == 200 and f"Order {order.number} already exists" in ordered.text
    assert session.scalar(select(func.count()).select_from(SalesOrder).where(SalesOrder.quote_id == a.quote_id)) == 1


def test_reject_needs_a_reason_and_other_people_cannot_act(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "rep_a")
    assert client.post(f"/app/quotes/{a.quote_id}/send", data={"csrf_token": csrf}).status_code == 200
    blank = client.post(f"/app/quotes/{a.quote_id}/reject", data={"csrf_token": csrf, "reason": "  "})
    assert blank.status_code == 422 and "reason: is required" in blank.text
    no_trace(blank)
    assert _status(session, a.quote_id) is QuoteStatus.sent

    outsider, other_csrf = signed_in(session, world, "rep_b")
    hidden = outsider.post(f"/app/quotes/{a.quote_id}/reject", data={"csrf_token": other_csrf, "reason": "x"})
    assert hidden.status_code == 404 and a.marker not in hidden.text
    csm, csm_csrf = signed_in(session, world, "csm_a")
    page = csm.get(f"/app/deals/{a.deal_id}")
    assert page.status_code == 200 and "/app/quotes/" not in page.text  # reads, but rep_a's deal: no buttons
    refused = csm.post(f"/app/quotes/{a.quote_id}/accept", data={"csrf_token": csm_csrf})
    assert refused.status_code == 403
    unknown = client.post(f"/app/quotes/{a.quote_id}/approve", data={"csrf_token": csrf})
    assert unknown.status_code == 422
    for response in (hidden, refused, unknown):
        no_trace(response)
    assert _status(session, a.quote_id) is QuoteStatus.sent

    rejected = client.post(f"/app/quotes/{a.quote_id}/reject", data={"csrf_token": csrf, "reason": "Too pricey"})
    assert rejected.status_code == 200 and ">rejected<" in _row(rejected.text, a.quote_id)
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_id == a.quote_id,
                                                   AuditLog.action == "rejected")).one()
    assert audit.after is not None and audit.after["reason"] == "Too pricey"
    assert audit.actor_id == world.users["rep_a"]


def test_a_deal_without_quote_becomes_an_order_from_its_page(session: Session, world: World) -> None:
    deal = factories.deal(session, name="Quoteless deal", amount=Decimal("750"), owner_id=world.users["rep_a"],
                          account_id=world.sides["a"].account_id)
    client, csrf = signed_in(session, world, "rep_a")
    page = client.get(f"/app/deals/{deal.id}")
    assert "No quotes for this deal." in page.text and f'action="/app/deals/{deal.id}/order"' in page.text
    made = client.post(f"/app/deals/{deal.id}/order", data={"csrf_token": csrf})
    order = session.scalars(select(SalesOrder).where(SalesOrder.deal_id == deal.id)).one()
    assert made.status_code == 200 and 'data-testid="deal-order"' in made.text and order.number in made.text
    again = client.post(f"/app/deals/{deal.id}/order", data={"csrf_token": csrf})
    assert again.status_code == 409 and "already has sales order" in again.text
    no_trace(again)
