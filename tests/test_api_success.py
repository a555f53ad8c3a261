"""Customer-success records entered through the REST API against the real database: NPS answers and payments reach
the NPS Follow-up and Health Monitor through the outbox, tickets move through their statuses, contracts, usage
snapshots and invoices are written with audit rows, and every refusal names its field and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents.dispatcher import dispatch_events
from core.config import get_settings
from core.models import AgentRun, AuditLog, Invoice, NpsResponse, OutboxEvent, Payment, Ticket, UsageSnapshot
from core.repositories import events as events_repo
from tests import factories
from tests.api_support import World, app_for, build_world, client_for, error_of


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def app(session: Session) -> Any:
    return app_for(session, enqueued=[])


def as_(app: Any, world: World, who: str) -> TestClient:
    return client_for(app, world.keys[who])


def _settle_outbox(session: Session) -> None:
    """Mark what is already pending as dispatched, so one pass below sees exactly this test's events."""
    events_repo.mark_dispatched(session, [e.id for e in events_repo.pending_events(session, 100_000)],
                                datetime.now(UTC))
    session.flush()


def _events(session: Session, topic: str, aggregate_id: int) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic,
                                                          OutboxEvent.aggregate_id == aggregate_id)))


def _runs(session: Session, run_ids: list[int], agent: str) -> list[tuple[str | None, int | None]]:
    return [(r.subject_type, r.subject_id) for r in session.scalars(
        select(AgentRun).where(AgentRun.id.in_(run_ids), AgentRun.agent == agent))]


def _count(session: Session, model: Any, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_a_detractor_answer_is_one_event_that_starts_the_nps_followup_and_the_health_monitor(
        app: Any, world: World, session: Session) -> None:
    side = world.sides["a"]
    _settle_outbox(session)
    created = as_(app, world, "csm_a").post("/nps-responses", json={
        "account_id": side.account_id, "contact_id": side.contact_id, "score": 3,
        "comment": "Exports keep failing.", "responded_at": "2026-11-20T09:30:00+01:00"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["score"], body["category"], body["contact_id"]) == (3, "detractor", side.contact_id)
    assert datetime.fromisoformat(body["responded_at"]) == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    (event,) = _events(session, "nps.response_received", body["id"])
    assert event.aggregate_type == "nps_response"
    assert event.payload == {"account_id": side.account_id, "score": 3, "category": "detractor"}
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "nps_response",
                                                   AuditLog.entity_id == body["id"])).one()
    assert audit.actor_id == world.users["csm_a"] and audit.after is not None and audit.after["score"] == 3

    result = dispatch_events(session, datetime.now(UTC), get_settings())
    assert _runs(session, result.run_ids, "nps_followup") == [("nps_response", body["id"])]
    assert _runs(session, result.run_ids, "health_monitor") == [("account", side.account_id)]
    listed = as_(app, world, "rep_a").get("/nps-responses", params={"account_id": side.account_id}).json()
    assert {r["id"] for r in listed} == {body["id"], side.nps_id}


def test_a_payment_is_one_event_that_starts_the_health_monitor(app: Any, world: World, session: Session) -> None:
    side = world.sides["b"]
    rep = as_(app, world, "rep_b")
    invoice = rep.post("/invoices", json={"account_id": side.account_id, "number": "INV-PAY-1", "amount": "250.00",
                                          "issued_on": "2026-11-01", "due_on": "2026-12-01"})
    assert invoice.status_code == 201, invoice.text
    _settle_outbox(session)
    paid = rep.post(f"/invoices/{invoice.json()['id']}/payments",
                    json={"amount": "250.00", "paid_on": "2026-11-10", "method": "card"})
    assert paid.status_code == 201, paid.text
    assert paid.json()["invoice"]["status"] == "paid" and paid.json()["payment"]["method"] == "card"
    (event,) = _events(session, "payment.received", invoice.json()["id"])
    assert event.payload == {"amount": "250.00", "paid_in_full": True, "account_id": side.account_id}
    result = dispatch_events(session, datetime.now(UTC), get_settings())
    assert _runs(session, result.run_ids, "health_monitor") == [("account", side.account_id)]
    assert _runs(session, result.run_ids, "nps_followup") == []


def test_a_ticket_goes_from_open_to_closed_and_closed_is_final(app: Any, world: World, session: Session) -> None:
    side = world.sides["a"]
    rep = as_(app, world, "rep_a")
    opened = rep.post("/tickets", json={"account_id": side.account_id, "subject": "Export fails", "priority": "high",
                                        "contact_id": side.contact_id, "opened_at": "2026-11-02T10:00:00Z"})
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert ticket["status"] == "open" and ticket["assignee_id"] == world.users["csm_a"]  # the account's CSM
    assert ticket["sla_due_at"].startswith("2026-11-02T18:00:00")  # high: 8 hours
    path = f"/tickets/{ticket['id']}"

    early = rep.patch(path, json={"satisfaction": 5})
    assert early.status_code == 422 and error_of(early)["field"] == "satisfaction"
    pending = rep.patch(path, json={"status": "pending", "priority": "urgent"}).json()
    assert pending["status"] == "pending" and pending["sla_due_at"].startswith("2026-11-02T14:00:00")
    solved = rep.patch(path, json={"status": "solved", "satisfaction": 4}).json()
    assert solved["status"] == "solved" and solved["satisfaction"] == 4 and solved["resolved_at"] is not None
    reopened = rep.patch(path, json={"status": "open"}).json()
    assert (reopened["status"], reopened["resolved_at"], reopened["satisfaction"]) == ("open", None, None)
    assert rep.patch(path, json={"status": "closed"}).json()["status"] == "closed"
    final = rep.patch(path, json={"status": "open"})
    assert final.status_code == 409 and error_of(final)["field"] == "status"

    assert [t["id"] for t in rep.get("/tickets", params={"account_id": side.account_id, "status": "closed"}).json()] \
        == [ticket["id"]]
    assert rep.get(path).json()["status"] == "closed"
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "ticket",
                                                            AuditLog.entity_id == ticket["id"])).all()
    assert sorted(actions) == ["create"] + ["update"] * 4
    bad = rep.post("/tickets", json={"account_id": side.account_id, "subject": "x", "priority": "asap"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "priority"


def test_contracts_are_created_and_edited_with_the_term_checked(app: Any, world: World, session: Session) -> None:
    side, other = world.sides["a"], world.sides["a2"]
    manager = as_(app, world, "manager_a")
    created = manager.post("/contracts", json={"account_id": side.account_id, "plan": "Professional",
                                               "start_date": "2026-01-01", "end_date": "2026-12-31",
                                               "arr": "24000", "seat_limit": 40, "auto_renew": True,
                                               "deal_id": side.deal_id})
    assert created.status_code == 201, created.text
    contract = created.json()
    assert (contract["currency"], contract["status"], Decimal(contract["arr"])) == ("USD", "active", Decimal(24000))
    path = f"/contracts/{contract['id']}"
    patched = manager.patch(path, json={"seat_limit": 60, "end_date": "2027-12-31"})
    assert patched.json()["seat_limit"] == 60 and patched.json()["end_date"] == "2027-12-31"
    backwards = manager.patch(path, json={"start_date": "2028-01-01"})
    assert backwards.status_code == 422 and error_of(backwards)["field"] == "end_date"
    assert manager.get(path).json()["start_date"] == "2026-01-01"
    wrong_deal = manager.post("/contracts", json={"account_id": side.account_id, "plan": "P", "arr": "1",
                                                  "start_date": "2026-01-01", "end_date": "2026-02-01",
                                                  "deal_id": other.deal_id})
    assert wrong_deal.status_code == 422 and error_of(wrong_deal)["field"] == "deal_id"
    listed = manager.get("/contracts", params={"account_id": side.account_id}).json()
    assert [c["id"] for c in listed] == [contract["id"], side.contract_id]
    null_plan = manager.patch(path, json={"plan": None})
    assert null_plan.status_code == 422 and error_of(null_plan)["field"] == "plan"


def test_one_usage_snapshot_per_account_and_day(app: Any, world: World, session: Session) -> None:
    side = world.sides["b"]
    csm = as_(app, world, "csm_b")
    body = {"account_id": side.account_id, "captured_on": "2026-11-20", "logins": 340, "active_users": 41,
            "seats_used": 45, "features_adopted": ["reports", "api", "reports"]}
    created = csm.post("/usage-snapshots", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["features_adopted"] == ["reports", "api"]
    again = csm.post("/usage-snapshots", json=body | {"logins": 1})
    assert again.status_code == 409 and error_of(again)["field"] == "captured_on"
    negative = csm.post("/usage-snapshots", json=body | {"captured_on": "2026-11-21", "logins": -1})
    assert negative.status_code == 422 and error_of(negative)["field"] == "logins"
    assert _count(session, UsageSnapshot, UsageSnapshot.account_id == side.account_id) == 1
    listed = csm.get("/usage-snapshots", params={"account_id": side.account_id}).json()
    assert [(u["captured_on"], u["logins"]) for u in listed] == [("2026-11-20", 340)]


def test_an_invoice_is_paid_in_two_parts_and_overpayment_writes_nothing(app: Any, world: World,
                                                                         session: Session) -> None:
    side = world.sides["a"]
    csm = as_(app, world, "csm_a")
    created = csm.post("/invoices", json={"account_id": side.account_id, "number": "INV-2026-0042",
                                          "amount": "1000.00", "issued_on": "2026-11-01", "due_on": "2026-12-01"})
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert (invoice["status"], invoice["currency"], invoice["balance"]) == ("open", "USD", "1000.00")
    pay = f"/invoices/{invoice['id']}/payments"
    first = csm.post(pay, json={"amount": "400.00", "paid_on": "2026-11-05"})
    assert first.status_code == 201, first.text
    assert (first.json()["invoice"]["status"], first.json()["invoice"]["balance"]) == ("open", "600.00")
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "payment",
                                                   AuditLog.entity_id == first.json()["payment"]["id"])).one()
    assert audit.actor_id == world.users["csm_a"] and audit.after is not None and audit.after["amount"] == "400.00"

    _settle_outbox(session)
    audits = _count(session, AuditLog, AuditLog.entity_type == "payment")
    over = csm.post(pay, json={"amount": "600.01"})
    assert over.status_code == 422 and error_of(over)["field"] == "amount"
    assert _count(session, Payment, Payment.invoice_id == invoice["id"]) == 1
    assert events_repo.pending_events(session) == []
    assert _count(session, AuditLog, AuditLog.entity_type == "payment") == audits

    rest = csm.post(pay, json={"amount": "600.00", "paid_on": "2026-11-06", "method": "direct_debit"})
    assert rest.status_code == 201 and rest.json()["invoice"]["status"] == "paid"
    detail = csm.get(f"/invoices/{invoice['id']}").json()
    assert (detail["status"], detail["paid"], detail["balance"]) == ("paid", "1000.00", "0.00")
    after_paid = csm.post(pay, json={"amount": "1.00"})
    assert after_paid.status_code == 409 and error_of(after_paid)["field"] == "amount"
    payments = csm.get(pay).json()
    assert [(p["amount"], p["method"]) for p in payments] == [("400.00", "bank_transfer"), ("600.00", "direct_debit")]
    assert [i["id"] for i in csm.get("/invoices", params={"account_id": side.account_id,
                                                          "status": "paid"}).json()] == [invoice["id"]]
    duplicate = csm.post("/invoices", json={"account_id": side.account_id, "number": "INV-2026-0042",
                                            "amount": "5", "due_on": "2100-01-01"})
    assert duplicate.status_code == 409 and error_of(duplicate)["field"] == "number"
    void_paid = csm.patch(f"/invoices/{invoice['id']}", json={"status": "void"})
    assert void_paid.status_code == 409 and error_of(void_paid)["field"] == "status"


def test_a_void_invoice_takes_no_payment(app: Any, world: World, session: Session) -> None:
    side = world.sides["a"]
    rep = as_(app, world, "rep_a")
    voided = rep.patch(f"/invoices/{side.invoice_id}", json={"status": "void"})
    assert voided.status_code == 200 and voided.json()["status"] == "void"
    refused = rep.post(f"/invoices/{side.invoice_id}/payments", json={"amount": "10.00"})
    assert refused.status_code == 409 and error_of(refused)["field"] == "amount"
    assert _count(session, Payment, Payment.invoice_id == side.invoice_id) == 0
    invoice = session.get(Invoice, side.invoice_id)
    assert invoice is not None and invoice.status.value == "void"


def test_records_outside_the_scope_are_not_found_and_readers_may_not_write(app: Any, world: World,
                                                                           session: Session) -> None:
    a, b = world.sides["a"], world.sides["b"]
    csm_b = as_(app, world, "csm_b")
    for path, body in (("/nps-responses", {"account_id": a.account_id, "score": 9}),
                       ("/tickets", {"account_id": a.account_id, "subject": "x"}),
                       ("/usage-snapshots", {"account_id": a.account_id, "captured_on": "2026-11-01"})):
        response = csm_b.post(path, json=body)
        assert response.status_code == 404 and error_of(response)["field"] == "account", (path, response.text)
    assert csm_b.get(f"/tickets/{a.ticket_id}").status_code == 404
    assert csm_b.get("/tickets", params={"account_id": a.account_id}).json() == []
    foreign_contact = as_(app, world, "csm_a").post("/nps-responses", json={
        "account_id": a.account_id, "contact_id": b.contact_id, "score": 9})
    assert foreign_contact.status_code == 404 and error_of(foreign_contact)["field"] == "contact"

    # rep_b holds a deal on account a: reads its records, but is not one of its stewards
    factories.deal(session, name="B on A", owner_id=world.users["rep_b"], account_id=a.account_id)
    rep_b = as_(app, world, "rep_b")
    assert [t["id"] for t in rep_b.get("/tickets", params={"account_id": a.account_id}).json()] == [a.ticket_id]
    refused = rep_b.post("/tickets", json={"account_id": a.account_id, "subject": "x"})
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert rep_b.patch(f"/tickets/{a.ticket_id}", json={"status": "solved"}).status_code == 403
    assert _count(session, Ticket, Ticket.account_id == a.account_id) == 1


@pytest.mark.parametrize(("path", "patch", "field"), [
    ("/nps-responses", {"score": 11}, "score"),
    ("/nps-responses", {"responded_at": "2026-11-20T09:30:00"}, "responded_at"),  # no UTC offset
    ("/nps-responses", {"account_id": 0}, "account_id"),
    ("/tickets", {"opened_at": "9999-12-31T23:00:00Z"}, "opened_at"),
    ("/tickets", {"sla_due_at": "2020-01-01T00:00:00Z"}, "sla_due_at"),
    ("/contracts", {"end_date": "2025-12-31"}, "end_date"),
    ("/contracts", {"arr": "-1"}, "arr"),
    ("/contracts", {"seat_limit": 0}, "seat_limit"),
    ("/invoices", {"due_on": "2026-10-31"}, "due_on"),
    ("/invoices", {"amount": "0"}, "amount"),
    ("/invoices", {"status": "paid"}, "status"),
    ("/invoices", {"number": "bad number!"}, "number"),
])
def test_bad_fields_are_refused_by_name_and_write_nothing(app: Any, world: World, session: Session, path: str,
                                                          patch: dict[str, Any], field: str) -> None:
    side = world.sides["a"]
    bases: dict[str, dict[str, Any]] = {
        "/nps-responses": {"account_id": side.account_id, "score": 7},
        "/tickets": {"account_id": side.account_id, "subject": "x", "opened_at": "2026-11-02T10:00:00Z"},
        "/contracts": {"account_id": side.account_id, "plan": "P", "start_date": "2026-01-01",
                       "end_date": "2026-12-31", "arr": "1"},
        "/invoices": {"account_id": side.account_id, "number": "INV-BAD", "amount": "10",
                      "issued_on": "2026-11-01", "due_on": "2026-12-01"}}
    base = bases[path]
    _settle_outbox(session)
    audits = _count(session, AuditLog)
    response = as_(app, world, "admin").post(path, json=base | patch)
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field
    assert _count(session, AuditLog) == audits and events_repo.pending_events(session) == []
    assert _count(session, NpsResponse, NpsResponse.account_id == side.account_id) == 1


def test_a_ticket_sla_follows_the_priority_by_default(app: Any, world: World) -> None:
    side = world.sides["a"]
    csm = as_(app, world, "csm_a")
    start = datetime(2026, 11, 2, 10, tzinfo=UTC)
    for priority, hours in (("urgent", 4), ("normal", 24), ("low", 72)):
        ticket = csm.post("/tickets", json={"account_id": side.account_id, "subject": priority,
                                            "priority": priority, "opened_at": start.isoformat()}).json()
        assert datetime.fromisoformat(ticket["sla_due_at"]) == start + timedelta(hours=hours)
        assert ticket["assignee_id"] == world.users["csm_a"]
