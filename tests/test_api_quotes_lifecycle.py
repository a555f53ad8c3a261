"""The quote lifecycle through the API: draft -> sent -> accepted (one sales order, asked for as often as you like)
or rejected (with a reason); refused transitions are 409s naming the status and write nothing; other scopes get
404; a CSM sends and signs the renewal quote of a deal they own, which is what extends the contract; sent
quotes past their validity expire through the nightly job beat schedules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from celery.schedules import crontab
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from agents.celery_app import beat_schedule
from agents.enqueue import EXPIRE_QUOTES
from agents.quote_expiry import expire_due_quotes
from agents.renewals.nodes import signed_subject
from core.config import Settings
from core.db.engine import session_scope
from core.models import Account, AuditLog, Contract, Deal, OutboxEvent, Pipeline, Quote, SalesOrder, User
from core.models.enums import DealStatus, Lifecycle, QuoteStatus, Role
from core.services import auth as auth_service
from core.services import deals as deal_service
from core.services import quotes as quote_service
from core.services import renewals
from tests import factories
from tests.api_support import World, app_for, build_world, client_for, error_of
from tests.conftest import committing_engine

TODAY = datetime.now(UTC).date()
LINES = [{"quantity": "3", "description": "Seats", "unit_price": "100.00", "discount_pct": "10"},
         {"quantity": "1", "description": "Onboarding", "unit_price": "499.99"}]


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def _client(session: Session, world: World, who: str) -> Any:
    return client_for(app_for(session, enqueued=[]), world.keys[who])


def _new_quote(client: Any, world: World, side: str = "a", **extra: Any) -> dict[str, Any]:
    s = world.sides[side]
    body = {"account_id": s.account_id, "deal_id": s.deal_id, "tax_rate": "0.2", "lines": LINES,
            "valid_until": (TODAY + timedelta(days=30)).isoformat()} | extra
    response = client.post("/quotes", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _events(session: Session, topic: str, aggregate_id: int) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic,
                                                          OutboxEvent.aggregate_id == aggregate_id)))


def _writes(session: Session, quote_id: int) -> tuple[int, int, int]:
    """(outbox events, audit rows, orders) about one quote: what a refused call must leave unchanged."""
    session.expire_all()
    events = session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.aggregate_type == "quote", OutboxEvent.aggregate_id == quote_id))
    audits = session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "quote", AuditLog.entity_id == quote_id))
    orders = session.scalar(select(func.count()).select_from(SalesOrder).where(SalesOrder.quote_id == quote_id))
    return int(events or 0), int(audits or 0), int(orders or 0)


def test_send_accept_and_order_once(session: Session, world: World) -> None:
    rep = _client(session, world, "rep_a")
    quote = _new_quote(rep, world)
    qid = quote["id"]
    assert quote["total"] == "923.99"  # 270.00 + 499.99 = 769.99, plus 20 % tax 154.00

    sent = rep.post(f"/quotes/{qid}/send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sent" and sent.json()["sent_at"] is not None
    [event] = _events(session, "quote.sent", qid)
    assert event.payload == {"deal_id": world.sides["a"].deal_id}
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "quote", AuditLog.entity_id == qid,
                                                   AuditLog.action == "sent")).one()
    assert audit.actor_id == world.users["rep_a"] and audit.before == {"status": "draft", "sent_at": None,
                                                                        "responded_at": None}

    accepted = rep.post(f"/quotes/{qid}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["order_id"] is not None
    assert len(_events(session, "quote.accepted", qid)) == 1
    session.expire_all()
    assert session.get_one(Deal, world.sides["a"].deal_id).status is DealStatus.won

    first = rep.post(f"/quotes/{qid}/order")
    again = rep.post(f"/quotes/{qid}/order")
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    order = first.json()
    assert order["id"] == again.json()["id"] == accepted.json()["order_id"]
    assert (order["quote_id"], order["deal_id"], order["account_id"]) == (
        qid, world.sides["a"].deal_id, world.sides["a"].account_id)
    assert (order["total"], order["currency"]) == (quote["total"], quote["currency"])
    assert [(ln["description"], ln["quantity"], ln["unit_price"], ln["discount_pct"], ln["line_total"])
            for ln in order["lines"]] == [(ln["description"], ln["quantity"], ln["unit_price"], ln["discount_pct"],
                                           ln["line_total"]) for ln in quote["lines"]]
    assert _writes(session, qid)[2] == 1
    assert len(_events(session, "order.created", order["id"])) == 1

    listed = rep.get("/orders", params={"deal_id": world.sides["a"].deal_id}).json()
    assert [o["id"] for o in listed] == [order["id"]]
    assert rep.get(f"/orders/{order['id']}").json()["lines"] == order["lines"]
    by_account = {o["id"] for o in rep.get("/orders", params={"account_id": world.sides["a"].account_id}).json()}
    assert order["id"] in by_account and world.sides["b"].order_id not in by_account
    assert rep.get(f"/quotes/{qid}").json()["order_id"] == order["id"]


def test_reject_needs_a_reason_and_a_rejected_quote_never_becomes_an_order(session: Session, world: World) -> None:
    rep = _client(session, world, "rep_a")
    qid = _new_quote(rep, world)["id"]
    assert rep.post(f"/quotes/{qid}/send").status_code == 200
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 201}):
        refused = rep.post(f"/quotes/{qid}/reject", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert error_of(refused)["field"].endswith("reason")
    rejected = rep.post(f"/quotes/{qid}/reject", json={"reason": " Budget moved to next year "})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected" and rejected.json()["responded_at"] is not None
    [event] = _events(session, "quote.rejected", qid)
    assert event.payload == {"deal_id": world.sides["a"].deal_id, "reason": "Budget moved to next year"}
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_id == qid, AuditLog.action == "rejected")).one()
    assert audit.after is not None and audit.after["reason"] == "Budget moved to next year"

    before = _writes(session, qid)
    order = rep.post(f"/quotes/{qid}/order")
    assert order.status_code == 409 and "rejected" in error_of(order)["message"]
    assert _writes(session, qid) == before


def test_illegal_transitions_are_409_naming_the_status_and_write_nothing(session: Session, world: World) -> None:
    rep = _client(session, world, "rep_a")
    qid = _new_quote(rep, world)["id"]
    before = _writes(session, qid)
    for action, body in (("accept", None), ("reject", {"reason": "no"}), ("order", None)):
        refused = rep.post(f"/quotes/{qid}/{action}", json=body)
        assert refused.status_code == 409, (action, refused.text)
        assert error_of(refused)["code"] == "conflict" and "is draft" in error_of(refused)["message"]
    assert _writes(session, qid) == before
    session.expire_all()
    assert session.get_one(Quote, qid).status is QuoteStatus.draft
    assert session.get_one(Deal, world.sides["a"].deal_id).status is DealStatus.open

    assert rep.post(f"/quotes/{qid}/send").status_code == 200
    assert rep.post(f"/quotes/{qid}/accept").status_code == 200
    accepted = _writes(session, qid)
    for action, body in (("send", None), ("accept", None), ("reject", {"reason": "late"})):
        refused = rep.post(f"/quotes/{qid}/{action}", json=body)
        assert refused.status_code == 409 and "is accepted" in error_of(refused)["message"], refused.text
    assert _writes(session, qid) == accepted

    # A second quote on the now-won deal cannot make a second order of the deal.
    other = _new_quote(rep, world)["id"]
    assert rep.post(f"/quotes/{other}/send").status_code == 200
    second = rep.post(f"/quotes/{other}/accept")
    assert second.status_code == 409 and "already has sales order" in error_of(second)["message"]
    session.expire_all()
    assert session.get_one(Quote, other).status is QuoteStatus.sent


def test_a_quote_past_its_validity_cannot_be_sent(session: Session, world: World) -> None:
    rep = _client(session, world, "rep_a")
    late = _new_quote(rep, world, valid_until=(TODAY - timedelta(days=1)).isoformat())["id"]
    refused = rep.post(f"/quotes/{late}/send")
    assert refused.status_code == 409 and "expired on" in error_of(refused)["message"]
    assert _writes(session, late) == (0, 1, 0)  # only the creation's audit row


def test_other_scopes_get_404_and_a_csm_only_changes_deals_they_own(session: Session, world: World) -> None:
    a = world.sides["a"]
    outsider = _client(session, world, "rep_b")
    for action, body in (("send", None), ("accept", None), ("reject", {"reason": "x"}), ("order", None)):
        response = outsider.post(f"/quotes/{a.quote_id}/{action}", json=body)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found", response.text
    assert outsider.post(f"/deals/{a.deal_id}/order").status_code == 404
    assert outsider.get(f"/orders/{a.order_id}").status_code == 404
    assert a.order_id not in {o["id"] for o in outsider.get("/orders", params={"limit": 500}).json()}

    csm = _client(session, world, "csm_a")  # reads side a, but the deal is rep_a's
    assert csm.get(f"/orders/{a.order_id}").status_code == 200
    refused = csm.post(f"/quotes/{a.quote_id}/send")
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert csm.post(f"/deals/{a.deal_id}/order").status_code == 403

    manager = _client(session, world, "manager_a")  # the team's quotes
    assert manager.post(f"/quotes/{world.sides['a2'].quote_id}/send").json()["status"] == "sent"
    session.expire_all()
    assert session.get_one(Quote, a.quote_id).status is QuoteStatus.draft


def test_order_from_a_deal_without_quote_wins_it_once(session: Session, world: World) -> None:
    rep = _client(session, world, "rep_a")
    deal = factories.deal(session, name="No quote deal", amount=Decimal("1500.00"), owner_id=world.users["rep_a"],
                          account_id=world.sides["a"].account_id)
    made = rep.post(f"/deals/{deal.id}/order")
    assert made.status_code == 201, made.text
    assert (made.json()["total"], made.json()["deal_id"], len(made.json()["lines"])) == ("1500.00", deal.id, 1)
    again = rep.post(f"/deals/{deal.id}/order")
    assert again.status_code == 409 and made.json()["number"] in error_of(again)["message"]
    session.expire_all()
    assert session.get_one(Deal, deal.id).status is DealStatus.won


def _renewal(session: Session) -> tuple[int, int, str]:
    """A CSM's customer whose contract ends in 40 days, with its renewal deal and draft quote:
    (deal id, quote id, the CSM's API key)."""
    if session.scalar(select(func.count()).select_from(Pipeline).where(Pipeline.is_default.is_(True))) == 0:
        deal_service.create_pipeline(session, "Sales", is_default=True)
    csm = factories.user(session, role=Role.csm)
    account = Account(name="Renewing Quotes GmbH", lifecycle=Lifecycle.customer, csm_id=csm.id, currency="EUR")
    session.add(account)
    session.flush()
    end = TODAY + timedelta(days=40)
    contract = Contract(account_id=account.id, plan="Enterprise", start_date=end - timedelta(days=364),
                        end_date=end, arr=Decimal("12000"), currency="EUR", seat_limit=50)
    session.add(contract)
    session.flush()
    made = renewals.open_renewal(session, contract.id)
    assert made.quote_id is not None
    key = auth_service.create_api_key(session, csm.id, "renewal")[1]
    return made.deal_id, made.quote_id, key


def test_the_csm_sends_and_signs_a_renewal_quote_and_that_extends_the_contract(session: Session) -> None:
    deal_id, quote_id, key = _renewal(session)
    csm = client_for(app_for(session, enqueued=[]), key)
    assert csm.post(f"/quotes/{quote_id}/send").status_code == 200
    accepted = csm.post(f"/quotes/{quote_id}/accept")
    assert accepted.status_code == 200, accepted.text
    [event] = _events(session, "quote.accepted", quote_id)
    assert signed_subject(event) == deal_id  # renewals_signed runs for the renewal deal
    session.expire_all()
    deal = session.get_one(Deal, deal_id)
    assert deal.status is DealStatus.won
    contract = session.scalars(select(Contract).join(Account, Account.id == Contract.account_id)
                               .where(Account.id == deal.account_id)).one()
    old_end = contract.end_date
    new_end = renewals.extend_contract(session, deal_id)  # what renewals_signed does for a won renewal deal
    assert new_end is not None and new_end > old_end


def test_beat_runs_the_nightly_expiry() -> None:
    entry = beat_schedule(Settings(), [])["expire_quotes"]
    assert entry["task"] == EXPIRE_QUOTES and entry["schedule"] == crontab(minute="5", hour="0")
    assert "expire_quotes" not in beat_schedule(Settings(agent_schedules={"expire_quotes": "off"}), [])


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("quote_expiry")


def test_the_nightly_job_expires_sent_quotes_past_their_validity(engine: Engine) -> None:
    now = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)
    with session_scope(engine) as session:
        owner = User(email="expiry@seller.test", full_name="Expiry Rep", role=Role.rep)
        session.add(owner)
        session.flush()
        account = factories.account(session, account_manager_id=owner.id)
        line = [quote_service.LineInput(quantity=Decimal(1), description="Licence", unit_price=Decimal("10"))]
        ids = {}
        for name, valid_until, send in (("old", date(2026, 11, 19), True), ("today", date(2026, 11, 20), True),
                                        ("draft", date(2026, 11, 1), False)):
            quote = quote_service.create_quote(session, account_id=account.id, lines=line, valid_until=valid_until)
            if send:
                quote_service.send_quote(session, quote.id, now=now - timedelta(days=30))
            ids[name] = quote.id
    result = expire_due_quotes(now, engine=engine)
    assert result["quote_ids"] == [ids["old"]] and result["day"] == "2026-11-20"
    with session_scope(engine) as session:
        statuses = {name: session.get_one(Quote, qid).status for name, qid in ids.items()}
        assert statuses == {"old": QuoteStatus.expired, "today": QuoteStatus.sent, "draft": QuoteStatus.draft}
        audit = session.scalars(select(AuditLog).where(AuditLog.entity_id == ids["old"],
                                                       AuditLog.action == "expired")).one()
        assert audit.actor == "schedule:expire_quotes" and audit.after == {"status": "expired",
                                                                           "expired_on": "2026-11-20"}
    assert expire_due_quotes(now, engine=engine)["expired"] == 0  # the next run finds nothing new


def test_a_draft_quote_can_be_given_a_new_validity_and_contact_before_it_is_sent(session: Session) -> None:
    world = build_world(session)
    side = world.sides["a"]
    rep = client_for(app_for(session), world.keys["rep_a"])
    today = datetime.now(UTC).date()
    stale = rep.patch(f"/quotes/{side.quote_id}", json={"valid_until": str(today - timedelta(days=1))})
    assert stale.status_code == 422 and error_of(stale)["field"] == "valid_until"
    foreign_contact = rep.patch(f"/quotes/{side.quote_id}", json={"contact_id": world.sides["b"].contact_id})
    assert foreign_contact.status_code == 422 and error_of(foreign_contact)["field"] == "contact_id"
    later = str(today + timedelta(days=30))
    ok = rep.patch(f"/quotes/{side.quote_id}", json={"valid_until": later, "contact_id": side.contact_id,
                                                      "terms": "Net 30"})
    assert ok.status_code == 200, ok.text
    assert (ok.json()["valid_until"], ok.json()["contact_id"]) == (later, side.contact_id)
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "quote",
                                                   AuditLog.entity_id == side.quote_id,
                                                   AuditLog.action == "update")).all()
    assert len(audit) == 1 and audit[0].after["terms"] == "Net 30"
    assert rep.post(f"/quotes/{side.quote_id}/send").status_code == 200
    sent = rep.patch(f"/quotes/{side.quote_id}", json={"terms": "changed after sending"})
    assert sent.status_code == 409 and error_of(sent)["field"] == "status"
