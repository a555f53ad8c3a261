"""Segments through the REST API: the seed's Vietnam example among decoys, members that follow the data without a
re-save, rule errors naming their path, members limited to the caller's scope, and a preview that writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditLog, OutboxEvent, Segment, Team
from core.models.enums import Role, SizeBand
from core.services import auth as auth_service
from tests import factories as f
from tests.api_support import app_for, client_for, error_of

NAME = "Enterprise accounts — Vietnam — 90d no activity"
VIETNAM = {"all": [
    {"field": "account.size_band", "op": "eq", "value": "enterprise"},
    {"field": "account.country", "op": "eq", "value": "VN"},
    {"field": "last_activity_days", "op": "gt", "value": 90},
    {"field": "open_deals", "op": "eq", "value": 0},
]}
DAY = timedelta(days=1)


@dataclass
class Shop:
    """Team A (manager_a, rep_a), team B (manager_b, rep_b), a CSM and an admin; contacts by name."""

    tag: str
    users: dict[str, int]
    keys: dict[str, str]
    accounts: dict[str, int]
    contacts: dict[str, int]

    def client(self, session: Session, who: str) -> TestClient:
        return client_for(app_for(session), self.keys[who])


def _shop(session: Session) -> Shop:
    tag = uuid.uuid4().hex[:6]
    team_a, team_b = Team(name=f"A {tag}"), Team(name=f"B {tag}")
    session.add_all([team_a, team_b])
    session.flush()
    users, keys = {}, {}
    for who, role, team in (("rep_a", Role.rep, team_a.id), ("manager_a", Role.manager, team_a.id),
                            ("rep_b", Role.rep, team_b.id), ("manager_b", Role.manager, team_b.id),
                            ("csm", Role.csm, None), ("admin", Role.admin, None)):
        users[who] = f.user(session, role=role, team_id=team, email=f"{who}.{tag}@example.test").id
        keys[who] = auth_service.create_api_key(session, users[who], "t")[1]
    now = datetime.now(UTC)
    accounts: dict[str, int] = {}
    contacts: dict[str, int] = {}

    def account(name: str, manager: str, **kw: Any) -> int:
        kw = {"size_band": SizeBand.enterprise, "country": "VN"} | kw
        accounts[name] = f.account(session, name=f"{name} {tag}", account_manager_id=users[manager], **kw).id
        return accounts[name]

    def people(acc: str, *names: str) -> None:
        for n in names:
            contacts[n] = f.contact(session, account_id=accounts[acc], first_name=n, last_name=tag).id

    account("cold_a", "rep_a")  # never touched: in
    people("cold_a", "alma", "arno")
    account("cold_b", "rep_b")  # last touched 120 days ago: in
    people("cold_b", "bea")
    f.activity(session, contact_id=contacts["bea"], occurred_at=now - 120 * DAY)
    account("mid", "rep_a", size_band=SizeBand.mid_market)  # decoys, each failing one rule
    people("mid", "decoy_size")
    account("thai", "rep_a", country="TH")
    people("thai", "decoy_country")
    account("warm", "rep_b")
    people("warm", "decoy_warm")
    f.activity(session, account_id=accounts["warm"], occurred_at=now - 10 * DAY)
    account("dealing", "rep_b")
    people("dealing", "decoy_deal")
    f.deal(session, account_id=accounts["dealing"], owner_id=users["rep_b"])
    return Shop(tag, users, keys, accounts, contacts)


@pytest.fixture
def shop(session: Session) -> Shop:
    return _shop(session)


def _members(client: TestClient, segment_id: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/segments/{segment_id}/members", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _ids(shop: Shop, *names: str) -> list[int]:
    return sorted(shop.contacts[n] for n in names)


def _create(client: TestClient, name: str = NAME, rules: Any = VIETNAM, entity: str = "contact") -> Any:
    return client.post("/segments", json={"name": name, "entity": entity, "rules": rules,
                                          "description": "the seed's example"})


def test_the_seed_example_built_through_the_api_lists_exactly_the_cold_vietnam_contacts(
        session: Session, shop: Shop) -> None:
    manager = shop.client(session, "manager_a")
    created = _create(manager)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["entity"], body["rules"]) == (NAME, "contact", VIETNAM)
    assert body["created_by_id"] == shop.users["manager_a"]

    admin = shop.client(session, "admin")
    page = _members(admin, body["id"])
    assert page["ids"] == _ids(shop, "alma", "arno", "bea") and page["total"] == 3
    assert [m["id"] for m in page["members"]] == page["ids"]
    alma = page["members"][0]
    assert alma["name"].startswith("alma ") and alma["account_id"] == shop.accounts["cold_a"]
    assert alma["account_name"].startswith("cold_a ")
    second = _members(admin, body["id"], limit=1, offset=1)
    assert (second["ids"], second["total"], second["limit"], second["offset"]) == (_ids(shop, "arno"), 3, 1, 1)

    detail = admin.get(f"/segments/{body['id']}").json()
    assert detail["member_count"] == 3 and detail["rules"] == VIETNAM
    listed = admin.get("/segments", params={"entity": "contact"}).json()
    assert body["id"] in [s["id"] for s in listed]
    assert admin.get("/segments", params={"entity": "deal"}).json() == []

    accounts = _create(manager, name="VN accounts", entity="account", rules={"all": [
        {"field": "size_band", "op": "eq", "value": "enterprise"}, {"field": "country", "op": "eq", "value": "VN"},
        {"field": "last_activity_days", "op": "gt", "value": 90}, {"field": "open_deals", "op": "eq", "value": 0}]})
    assert accounts.status_code == 201, accounts.text
    acc_page = _members(admin, accounts.json()["id"])
    assert acc_page["ids"] == sorted([shop.accounts["cold_a"], shop.accounts["cold_b"]])
    assert acc_page["members"][0]["detail"] == "VN · enterprise"


def test_members_follow_the_data_without_saving_the_segment_again(session: Session, shop: Shop) -> None:
    segment_id = _create(shop.client(session, "manager_a")).json()["id"]
    admin, rep_a, rep_b = (shop.client(session, w) for w in ("admin", "rep_a", "rep_b"))
    assert _members(admin, segment_id)["ids"] == _ids(shop, "alma", "arno", "bea")

    # a call with alma warms her whole account: both of its contacts leave the list
    call = {"kind": "call", "subject": "check-in", "contact_id": shop.contacts["alma"]}
    logged = rep_a.post("/activities", json=call)
    assert logged.status_code == 201, logged.text
    assert _members(admin, segment_id)["ids"] == _ids(shop, "bea")

    # a new enterprise account in Vietnam, and its contact, join it
    account = rep_b.post("/accounts", json={"name": "Saigon Steel", "size_band": "enterprise", "country": "VN"})
    assert account.status_code == 201, account.text
    contact = rep_b.post("/contacts", json={"first_name": "Minh", "account_id": account.json()["id"]})
    assert contact.status_code == 201, contact.text
    assert _members(admin, segment_id)["ids"] == sorted([shop.contacts["bea"], contact.json()["id"]])

    # an open deal takes bea's account out; the Thai account moving to Vietnam brings its contact in
    deal = rep_b.post("/deals", json={"name": "Expansion", "account_id": shop.accounts["cold_b"]})
    assert deal.status_code == 201, deal.text
    moved = rep_a.patch(f"/accounts/{shop.accounts['thai']}", json={"country": "VN"})
    assert moved.status_code == 200, moved.text
    page = _members(admin, segment_id)
    assert page["ids"] == sorted([contact.json()["id"], shop.contacts["decoy_country"]]) and page["total"] == 2
    assert admin.get(f"/segments/{segment_id}").json()["member_count"] == 2

    segment = session.get(Segment, segment_id)
    assert segment is not None and segment.rules == VIETNAM
    updates = select(func.count()).select_from(AuditLog).where(AuditLog.entity_type == "segment",
                                                               AuditLog.entity_id == segment_id)
    assert session.scalar(updates) == 1  # its creation only


@pytest.mark.parametrize(("rules", "field", "message"), [
    ({"all": [*VIETNAM["all"][:2], {"field": "mood", "op": "eq", "value": 1}]}, "rules.all[2].field",
     "unknown field 'mood'"),
    ({"all": [{"field": "account.size_band", "op": "eq", "value": "huge"}]}, "rules.all[0].value", "enterprise"),
    ({"any": [{"field": "last_activity_days", "op": "eq", "value": 90}]}, "rules.any[0].op", "does not apply"),
    ({"field": "last_activity_days", "op": "gt", "value": 10**9}, "rules.value", "at most 36500 days"),
    ({"field": "title", "op": "eq", "value": "a\x00b"}, "rules.value", "NUL"),
    ({"not": {"op": "eq", "value": 1}}, "rules.not.field", "Field required"),
])
def test_invalid_rules_answer_422_naming_the_rule_and_save_nothing(
        session: Session, shop: Shop, rules: Any, field: str, message: str) -> None:
    manager = shop.client(session, "manager_a")
    before = session.scalar(select(func.count()).select_from(Segment))
    for response in (_create(manager, rules=rules),
                     manager.post("/segments/preview", json={"entity": "contact", "rules": rules})):
        assert response.status_code == 422, response.text
        error = error_of(response)
        assert error["field"] == field and message in error["message"], error
    assert session.scalar(select(func.count()).select_from(Segment)) == before


def test_other_bad_bodies_name_their_field(session: Session, shop: Shop) -> None:
    manager = shop.client(session, "manager_a")
    segment_id = _create(manager).json()["id"]
    cases = [(_create(manager, entity="company"), "entity"), (_create(manager, rules="title = x"), "rules"),
             (_create(manager, name=NAME), "name"), (_create(manager, name="  "), "name"),
             (_create(manager, name="leads", entity="lead", rules={"field": "account.country", "op": "eq",
                                                                    "value": "VN"}), "rules.field"),
             (manager.patch(f"/segments/{segment_id}", json={"rules": {"all": [{"field": "tags", "op": "eq",
                                                                                "value": "vip"}]}}),
              "rules.all[0].op"),
             (manager.patch(f"/segments/{segment_id}", json={"rules": None}), "rules"),
             (manager.patch(f"/segments/{segment_id}", json={"name": None}), "name")]
    for response, field in cases:
        assert response.status_code == 422, response.text
        assert error_of(response)["field"] == field, response.text
    segment = session.get(Segment, segment_id)
    assert segment is not None and (segment.name, segment.rules) == (NAME, VIETNAM)


def test_a_rep_sees_only_the_members_in_their_scope(session: Session, shop: Shop) -> None:
    segment_id = _create(shop.client(session, "manager_b")).json()["id"]
    everyone = {"field": "last_name", "op": "eq", "value": shop.tag}  # every contact of this test
    expect = {"rep_a": ("alma", "arno"), "manager_a": ("alma", "arno"), "rep_b": ("bea",),
              "manager_b": ("bea",), "csm": (), "admin": ("alma", "arno", "bea")}
    in_scope = {"rep_a": 4, "manager_a": 4, "rep_b": 3, "manager_b": 3, "csm": 0, "admin": 7}
    for who, names in expect.items():
        client = shop.client(session, who)
        response = client.get(f"/segments/{segment_id}/members", params={"limit": 500})
        page = response.json()
        assert page["ids"] == _ids(shop, *names) and page["total"] == len(names), who
        for hidden in {"alma", "arno", "bea"} - set(names):
            assert f"{hidden} {shop.tag}" not in response.text, (who, hidden)
        assert client.get(f"/segments/{segment_id}").json()["member_count"] == len(names), who
        preview = client.post("/segments/preview", json={"entity": "contact", "rules": VIETNAM}).json()
        assert preview["ids"] == _ids(shop, *names) and preview["total"] == len(names), who
        # the population too is the caller's: nobody learns how many contacts lie outside their scope
        population = client.post("/segments/preview", json={"entity": "contact", "rules": everyone}).json()
        assert population["population"] == population["total"] == in_scope[who], who
    csm_leads = shop.client(session, "csm").post("/segments/preview", json={"entity": "lead", "rules": {"all": []}})
    assert csm_leads.json()["population"] == 0  # a CSM sees no leads, so no lead segment has members for them


def test_managers_and_admins_create_the_creator_or_an_admin_changes(session: Session, shop: Shop) -> None:
    for who in ("rep_a", "csm"):
        refused = _create(shop.client(session, who), name=f"by {who}")
        assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    manager_a = shop.client(session, "manager_a")
    segment_id = _create(manager_a).json()["id"]
    for who in ("rep_a", "manager_b", "csm"):
        client = shop.client(session, who)
        assert client.patch(f"/segments/{segment_id}", json={"name": "mine"}).status_code == 403, who
        assert client.delete(f"/segments/{segment_id}").status_code == 403, who
    renamed = manager_a.patch(f"/segments/{segment_id}", json={"name": "VN cold", "description": None,
                                                              "rules": VIETNAM["all"][0]})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["description"], renamed.json()["rules"]) == \
        ("VN cold", None, VIETNAM["all"][0])
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "segment", AuditLog.entity_id == segment_id,
                                                   AuditLog.action == "update")).one()
    assert audit.actor_id == shop.users["manager_a"] and audit.before["name"] == NAME
    assert sorted(audit.after) == ["description", "name", "rules"]
    admin = shop.client(session, "admin")
    assert admin.delete(f"/segments/{segment_id}").status_code == 204
    assert admin.get(f"/segments/{segment_id}").status_code == 404
    assert admin.get(f"/segments/{segment_id}/members").status_code == 404
    topics = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.aggregate_type == "segment",
                                                             OutboxEvent.aggregate_id == segment_id)).all()
    assert list(topics) == ["segment.created", "segment.updated", "segment.deleted"]


def test_preview_counts_and_lists_but_writes_nothing(session: Session, shop: Shop) -> None:
    def rows() -> tuple[int | None, ...]:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Segment, OutboxEvent, AuditLog))

    before = rows()
    admin = shop.client(session, "admin")
    response = admin.post("/segments/preview", json={"entity": "contact", "rules": VIETNAM, "limit": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 3 and body["ids"] == _ids(shop, "alma", "arno", "bea")[:2]
    assert [m["id"] for m in body["members"]] == body["ids"]
    # 7 contacts; enterprise drops decoy_size, VN decoy_country, cold decoy_warm, no open deal decoy_deal
    assert [s["rule"] for s in body["steps"]] == [f"rules.all[{i}]" for i in range(4)]
    assert [s["count"] for s in body["steps"]] == [6, 5, 4, 3] and body["population"] == 7
    assert rows() == before
