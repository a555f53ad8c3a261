"""Tags and custom fields set through the API: admins define the fields, people set typed values with PATCH,
tags are normalised, the agents' own keys survive a person's edit, and a bad value writes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Account, AuditLog, Contact, Deal, OutboxEvent
from tests.api_support import World, app_for, build_world, client_for, error_of

FIELDS = [{"entity": "account", "key": "seats_target", "label": "Seats target", "data_type": "number"},
          {"entity": "account", "key": "region_owner", "label": "Region owner", "data_type": "text"},
          {"entity": "contact", "key": "champion", "label": "Champion", "data_type": "boolean"},
          {"entity": "deal", "key": "go_live", "label": "Go-live", "data_type": "date"}]


def _defined(session: Session) -> tuple[World, Any, Any]:
    world = build_world(session)
    app = app_for(session)
    admin, rep = client_for(app, world.keys["admin"]), client_for(app, world.keys["rep_a"])
    for field in FIELDS:
        response = admin.post("/custom-fields", json=field)
        assert response.status_code == 201, response.text
    return world, admin, rep


def _events(session: Session, topic: str, aggregate_id: int) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic,
                                                          OutboxEvent.aggregate_id == aggregate_id)))


def test_admins_define_fields_everyone_reads_them_and_redefining_is_idempotent(session: Session) -> None:
    world, admin, rep = _defined(session)
    listed = rep.get("/custom-fields", params={"entity": "account"})
    assert listed.status_code == 200
    assert [(f["key"], f["data_type"]) for f in listed.json()] == [("region_owner", "text"), ("seats_target", "number")]
    refused = rep.post("/custom-fields", json=FIELDS[0])
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    again = admin.post("/custom-fields", json=FIELDS[0])
    assert again.status_code == 201 and again.json()["id"] == listed.json()[1]["id"]
    other_type = admin.post("/custom-fields", json=FIELDS[0] | {"data_type": "text"})
    assert other_type.status_code == 409 and "already defined as number" in error_of(other_type)["message"]
    reserved = admin.post("/custom-fields", json=FIELDS[0] | {"key": "auto_labels"})
    assert reserved.status_code == 422 and error_of(reserved)["field"] == "key"
    assert len(rep.get("/custom-fields").json()) == 4


def test_tags_are_normalised_audited_and_announced(session: Session) -> None:
    world, _admin, rep = _defined(session)
    account_id = world.sides["a"].account_id
    response = rep.patch(f"/accounts/{account_id}", json={"tags": ["VIP", " vip ", "At  Risk"]})
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["vip", "at risk"]
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "account",
                                                   AuditLog.entity_id == account_id)).all()[-1]
    assert audit.before == {"tags": []} and audit.after == {"tags": ["vip", "at risk"]}
    assert [e.payload["fields"] for e in _events(session, "account.updated", account_id)] == [["tags"]]
    same = rep.patch(f"/accounts/{account_id}", json={"tags": ["vip", "AT RISK"]})
    assert same.status_code == 200 and len(_events(session, "account.updated", account_id)) == 1  # no change
    cleared = rep.patch(f"/accounts/{account_id}", json={"tags": []})
    assert cleared.json()["tags"] == []
    empty = rep.patch(f"/accounts/{account_id}", json={"tags": ["ok", "  "]})
    assert empty.status_code == 422 and error_of(empty)["field"] == "tags[1]"


def test_custom_field_values_are_typed_merged_and_keep_the_agents_keys(session: Session) -> None:
    world, _admin, rep = _defined(session)
    account_id = world.sides["a"].account_id
    account = session.get_one(Account, account_id)
    account.custom_fields = {"auto_labels": {"industry": {"value": "Software"}}}  # the Auto-Labeler's key
    session.flush()
    set_ = rep.patch(f"/accounts/{account_id}", json={"custom_fields": {"seats_target": 120, "region_owner": "Ana"}})
    assert set_.status_code == 200, set_.text
    assert set_.json()["custom_fields"] == {"auto_labels": {"industry": {"value": "Software"}}, "seats_target": 120,
                                            "region_owner": "Ana"}
    removed = rep.patch(f"/accounts/{account_id}", json={"custom_fields": {"region_owner": None}})
    assert removed.json()["custom_fields"] == {"auto_labels": {"industry": {"value": "Software"}},
                                               "seats_target": 120}

    wrong_type = rep.patch(f"/accounts/{account_id}", json={"name": "Renamed", "custom_fields": {"seats_target": "x"}})
    assert wrong_type.status_code == 422
    assert error_of(wrong_type)["field"] == "custom_fields.seats_target"
    unknown = rep.patch(f"/accounts/{account_id}", json={"custom_fields": {"colour": "red"}})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "custom_fields.colour"
    assert "seats_target" in error_of(unknown)["message"]  # names the fields that do exist
    agents_key = rep.patch(f"/accounts/{account_id}", json={"custom_fields": {"auto_labels": None}})
    assert agents_key.status_code == 422
    session.expire_all()
    after = session.get_one(Account, account_id)
    assert after.name != "Renamed" and after.custom_fields["auto_labels"] == {"industry": {"value": "Software"}}


def test_contacts_deals_and_leads_take_their_own_fields(session: Session) -> None:
    world, _admin, rep = _defined(session)
    side = world.sides["a"]
    contact = rep.patch(f"/contacts/{side.contact_id}", json={"custom_fields": {"champion": True},
                                                              "tags": ["Decision maker"]})
    assert contact.status_code == 200, contact.text
    assert (contact.json()["custom_fields"], contact.json()["tags"]) == ({"champion": True}, ["decision maker"])
    not_bool = rep.patch(f"/contacts/{side.contact_id}", json={"custom_fields": {"champion": "yes"}})
    assert not_bool.status_code == 422 and error_of(not_bool)["field"] == "custom_fields.champion"
    other_entity = rep.patch(f"/contacts/{side.contact_id}", json={"custom_fields": {"seats_target": 3}})
    assert other_entity.status_code == 422  # an account field is not a contact field

    bad_date = rep.patch(f"/deals/{side.deal_id}", json={"custom_fields": {"go_live": "2026-13-01"}})
    assert bad_date.status_code == 422 and error_of(bad_date)["field"] == "custom_fields.go_live"
    deal = rep.patch(f"/deals/{side.deal_id}", json={"custom_fields": {"go_live": "2027-01-15"}, "tags": ["q1"]})
    assert deal.status_code == 200 and deal.json()["custom_fields"] == {"go_live": "2027-01-15"}
    lead = rep.patch(f"/leads/{side.lead_id}", json={"tags": ["Webinar"]})
    assert lead.status_code == 200 and lead.json()["tags"] == ["webinar"]
    session.expire_all()
    assert session.get_one(Contact, side.contact_id).custom_fields == {"champion": True}
    assert session.get_one(Deal, side.deal_id).tags == ["q1"]


def test_out_of_scope_records_stay_404_whatever_the_fields(session: Session) -> None:
    world, _admin, rep = _defined(session)
    foreign = world.sides["b"].account_id
    response = rep.patch(f"/accounts/{foreign}", json={"tags": ["x"], "custom_fields": {"seats_target": 1}})
    assert response.status_code == 404


def test_customer_360_over_the_api_carries_the_credit_limit_and_stays_in_scope(session: Session) -> None:
    world = build_world(session)
    rep = client_for(app_for(session), world.keys["rep_a"])
    own = rep.get(f"/accounts/{world.sides['a'].account_id}/360", params={"timeline_limit": 5})
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["account"]["id"] == world.sides["a"].account_id and len(body["timeline"]["items"]) <= 5
    credit = body["credit"]  # the side's open invoice was due on 2026-01-31: long overdue, so no credit
    assert credit["currency"] == body["account"]["currency"] and credit["on_hold"] and credit["limit"] == "0"
    assert credit["reason"].startswith("on hold: an invoice is ") and credit["reason"].endswith("(more than 60)")
    assert rep.get(f"/accounts/{world.sides['b'].account_id}/360").status_code == 404
    assert rep.get(f"/accounts/{world.sides['a'].account_id}/360", params={"timeline_limit": 0}).status_code == 422
