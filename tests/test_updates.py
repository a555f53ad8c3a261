"""People's edits reach the agents: `<entity>.updated` outbox events (only for real changes), audit rows, and a
deal's close date moving through the Deal Coach's close-date trail, from the service and through the API."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from agents import registry
from core.models import AuditLog, OutboxEvent
from core.repositories.deal_coach import close_date_changes
from core.services.updates import update_fields
from tests import factories
from tests.api_support import app_for, build_world, client_for


def _events(session: Session, topic: str) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)))


def test_an_edit_is_audited_and_announced_once_and_an_unchanged_value_says_nothing(session: Session) -> None:
    lead = factories.lead(session, company_name="Initech", employees=20)
    assert update_fields(session, lead, {"employees": 500, "company_name": "Initech"}, entity_type="lead",
                         actor="user:1", actor_id=None) == ["employees"]
    (event,) = _events(session, "lead.updated")
    assert (event.aggregate_id, event.payload) == (lead.id, {"fields": ["employees"]})
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "lead", AuditLog.action == "update")).one()
    assert (audit.before, audit.after) == ({"employees": 20}, {"employees": 500})
    assert update_fields(session, lead, {"employees": 500}, entity_type="lead", actor="user:1") == []
    assert len(_events(session, "lead.updated")) == 1


def test_a_contact_edit_names_its_account_and_close_date_moves_leave_the_coach_trail(session: Session) -> None:
    account = factories.account(session)
    contact = factories.contact(session, account_id=account.id, title="Engineer")
    update_fields(session, contact, {"title": "Chief Financial Officer"}, entity_type="contact", actor="user:1")
    (event,) = _events(session, "contact.updated")
    assert event.payload == {"fields": ["title"], "account_id": account.id}
    deal = factories.deal(session, account_id=account.id, expected_close_date=date(2026, 6, 30))
    for later in (date(2026, 7, 31), date(2026, 9, 30)):
        update_fields(session, deal, {"expected_close_date": later, "name": deal.name}, entity_type="deal",
                      actor="user:1")
    changes = close_date_changes(session, [deal.id])[deal.id]
    assert [(c["from"], c["to"]) for c in changes] == [("2026-06-30", "2026-07-31"), ("2026-07-31", "2026-09-30")]
    assert [e.payload["fields"] for e in _events(session, "deal.updated")] == [["expected_close_date"]] * 2


def test_the_agents_listen_to_the_edits() -> None:
    topics = {spec.name: set(spec.events) for spec in registry.all_specs()}
    assert "lead.updated" in topics["lead_scorer"] and "deal.updated" in topics["deal_coach"]
    assert {"account.updated", "contact.updated"} <= topics["auto_labeler"]


def test_a_patch_through_the_api_writes_the_event(session: Session) -> None:
    world = build_world(session)
    rep = client_for(app_for(session), world.keys["rep_a"])
    lead_id = world.sides["a"].lead_id
    answer = rep.patch(f"/leads/{lead_id}", json={"employees": 750})
    assert answer.status_code == 200, answer.text
    assert [e.aggregate_id for e in _events(session, "lead.updated")] == [lead_id]
