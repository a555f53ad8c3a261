"""The role × endpoint matrix: every route of the app, called by every role (rep, manager, CSM, admin) and
anonymously, on objects outside the caller's scope. Every forbidden combination is refused (401 anonymous,
403 role-forbidden function, 404 object outside the scope — the same answer as a missing id) and no response
contains anything of the objects it refused; lists carry only what the role may see.

Segments and campaigns are the shared kinds: every role reads the definitions ("shared", 200) while segment
members are filtered by the caller's scope (no marker leaks); only managers and admins create them
("shared_create") and only the creating (owning) manager or an admin changes them ("shared_write": 403 on another
side's segment or campaign). The campaign attribution report is company-wide sums for managers and admins.

A route added to the API (the OpenAPI spec) without an entry here fails test_every_route_is_in_the_matrix.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import (
    Account,
    Approval,
    Campaign,
    Contact,
    Contract,
    Deal,
    Invoice,
    Lead,
    NpsResponse,
    Quote,
    SalesOrder,
    Segment,
    Suggestion,
    Task,
    Ticket,
)
from core.repositories import success as success_repo
from tests.api_support import World, app_for, build_world, client_for, error_of

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/auth/login"),
          ("POST", "/public/leads")}
NON_ADMINS = ("rep_a", "manager_a", "csm_a", "rep_b", "manager_b", "csm_b")
# Whose objects each principal must never see: another rep's (even in the same team), another team's,
# another CSM's accounts.
FOREIGN = {"rep_a": ("a2", "b"), "manager_a": ("b",), "csm_a": ("b",), "rep_b": ("a", "a2"),
           "manager_b": ("a", "a2"), "csm_b": ("a", "a2")}
SELF_OWN = {"rep_a": ("a",), "manager_a": ("a", "a2"), "csm_a": ("a", "a2"), "rep_b": ("b",),
            "manager_b": ("b",), "csm_b": ("b",), "admin": ("a", "a2", "b")}
CSM = {"csm_a", "csm_b"}
SELLERS = {"rep_a", "rep_b", "manager_a", "manager_b"}
LINE = [{"quantity": "1", "description": "x", "unit_price": "1"}]

Body = Callable[[Any, World], dict[str, Any] | None]


@dataclass(frozen=True)
class E:
    """One route: `obj` fills its path id from a foreign side; `body` may reference the foreign side;
    `forbid` are the roles refused outright (403) whatever the object."""

    method: str
    path: str
    obj: str | None = None
    body: Body | None = None
    forbid: frozenset[str] = field(default_factory=frozenset)
    kind: str = "object"  # object | list | create | self | admin | bulk | shared | shared_write | shared_create


def _b(value: dict[str, Any]) -> Body:
    return lambda side, world: value


ADMIN_ONLY = frozenset(NON_ADMINS)
ENTRIES: list[E] = [
    E("GET", "/auth/me", kind="self"), E("POST", "/auth/logout", kind="self"),
    E("GET", "/auth/api-keys", kind="self"),
    E("POST", "/auth/api-keys", body=_b({"name": "matrix"}), kind="self"),
    E("DELETE", "/auth/api-keys/{key_id}", obj="key_id"),
    E("GET", "/accounts", kind="list"), E("GET", "/accounts/{account_id}", obj="account_id"),
    E("POST", "/accounts", body=lambda s, w: {"name": "x", "parent_id": s.account_id}, kind="create",
      forbid=frozenset(CSM)),
    E("PATCH", "/accounts/{account_id}", obj="account_id", body=_b({"industry": "hijacked"})),
    E("DELETE", "/accounts/{account_id}", obj="account_id"),
    E("GET", "/contacts", kind="list"), E("GET", "/contacts/{contact_id}", obj="contact_id"),
    E("POST", "/contacts", body=lambda s, w: {"first_name": "x", "account_id": s.account_id}, kind="create"),
    E("PATCH", "/contacts/{contact_id}", obj="contact_id", body=_b({"title": "hijacked"})),
    E("DELETE", "/contacts/{contact_id}", obj="contact_id"),
    E("POST", "/contacts/{contact_id}/unsubscribe", obj="contact_id"),
    E("GET", "/leads", kind="list", forbid=frozenset(CSM)),
    E("GET", "/leads/{lead_id}", obj="lead_id", forbid=frozenset(CSM)),
    E("POST", "/leads", body=lambda s, w: {"last_name": "x", "owner_id": s.owner}, kind="create",
      forbid=frozenset(CSM)),
    E("PATCH", "/leads/{lead_id}", obj="lead_id", body=_b({"title": "hijacked"}), forbid=frozenset(CSM)),
    E("DELETE", "/leads/{lead_id}", obj="lead_id", forbid=frozenset(CSM)),
    E("GET", "/leads/{lead_id}/duplicates", obj="lead_id", forbid=frozenset(CSM)),
    E("POST", "/leads/{lead_id}/status", obj="lead_id", body=_b({"status": "contacted"}), forbid=frozenset(CSM)),
    E("POST", "/leads/{lead_id}/convert", obj="lead_id", body=_b({"create_deal": False}), forbid=frozenset(CSM)),
    E("GET", "/pipelines", kind="list"),
    E("POST", "/pipelines", body=_b({"name": "matrix", "stages": [
        {"name": "a", "probability": 10}, {"name": "w", "probability": 100, "kind": "won"},
        {"name": "l", "probability": 0, "kind": "lost"}]}), kind="admin"),
    E("PATCH", "/pipelines/{pipeline_id}", body=_b({"name": "hijacked"}), kind="admin"),
    E("POST", "/pipelines/{pipeline_id}/stages", body=_b({"name": "hijacked", "probability": 1}), kind="admin"),
    E("PATCH", "/pipelines/{pipeline_id}/stages/{stage_id}", body=_b({"probability": 1}), kind="admin"),
    E("DELETE", "/pipelines/{pipeline_id}/stages/{stage_id}", kind="admin"),
    E("GET", "/deals", kind="list"), E("GET", "/deals/{deal_id}", obj="deal_id"),
    E("POST", "/deals", body=lambda s, w: {"name": "x", "account_id": s.account_id}, kind="create",
      forbid=frozenset(CSM)),
    E("PATCH", "/deals/{deal_id}", obj="deal_id", body=_b({"name": "hijacked"})),
    E("DELETE", "/deals/{deal_id}", obj="deal_id"),
    E("POST", "/deals/{deal_id}/stage", obj="deal_id", body=lambda s, w: {"stage_id": w.stage_ids[1]}),
    E("GET", "/quotes", kind="list"), E("GET", "/quotes/{quote_id}", obj="quote_id"),
    E("POST", "/quotes", body=lambda s, w: {"account_id": s.account_id, "lines": LINE}, kind="create",
      forbid=frozenset(CSM)),
    E("POST", "/quotes/{quote_id}/send", obj="quote_id"),
    E("POST", "/quotes/{quote_id}/accept", obj="quote_id"),
    E("POST", "/quotes/{quote_id}/reject", obj="quote_id", body=_b({"reason": "hijacked"})),
    E("POST", "/quotes/{quote_id}/order", obj="quote_id"),
    E("POST", "/deals/{deal_id}/order", obj="deal_id"),
    E("GET", "/orders", kind="list"), E("GET", "/orders/{order_id}", obj="order_id"),
    E("GET", "/activities", kind="list"), E("GET", "/activities/{activity_id}", obj="activity_id"),
    E("POST", "/activities", body=lambda s, w: {"kind": "note", "subject": "x", "deal_id": s.deal_id},
      kind="create"),
    E("DELETE", "/activities/{activity_id}", obj="activity_id"),
    E("GET", "/tasks", kind="list"), E("GET", "/tasks/{task_id}", obj="task_id"),
    E("POST", "/tasks", body=lambda s, w: {"title": "x", "deal_id": s.deal_id}, kind="create"),
    E("PATCH", "/tasks/{task_id}", obj="task_id", body=_b({"title": "hijacked"})),
    E("DELETE", "/tasks/{task_id}", obj="task_id"),
    E("GET", "/nps-responses", kind="list"),
    E("POST", "/nps-responses", body=lambda s, w: {"account_id": s.account_id, "score": 3}, kind="create"),
    E("GET", "/tickets", kind="list"), E("GET", "/tickets/{ticket_id}", obj="ticket_id"),
    E("POST", "/tickets", body=lambda s, w: {"account_id": s.account_id, "subject": "x"}, kind="create"),
    E("PATCH", "/tickets/{ticket_id}", obj="ticket_id", body=_b({"subject": "hijacked", "status": "closed"})),
    E("GET", "/contracts", kind="list"), E("GET", "/contracts/{contract_id}", obj="contract_id"),
    E("POST", "/contracts", body=lambda s, w: {"account_id": s.account_id, "plan": "x", "start_date": "2026-01-01",
                                               "end_date": "2026-12-31", "arr": "1"}, kind="create"),
    E("PATCH", "/contracts/{contract_id}", obj="contract_id", body=_b({"plan": "hijacked"})),
    E("GET", "/usage-snapshots", kind="list"),
    E("POST", "/usage-snapshots", body=lambda s, w: {"account_id": s.account_id, "captured_on": "2026-11-01"},
      kind="create"),
    E("GET", "/invoices", kind="list"), E("GET", "/invoices/{invoice_id}", obj="invoice_id"),
    E("POST", "/invoices", body=lambda s, w: {"account_id": s.account_id, "number": "HIJACK-1", "amount": "1",
                                              "due_on": "2100-01-01"}, kind="create"),
    E("PATCH", "/invoices/{invoice_id}", obj="invoice_id", body=_b({"status": "void"})),
    E("GET", "/invoices/{invoice_id}/payments", obj="invoice_id"),
    E("POST", "/invoices/{invoice_id}/payments", obj="invoice_id", body=_b({"amount": "1"})),
    E("GET", "/agents", kind="list"), E("GET", "/agents/runs", kind="list"),
    E("GET", "/agents/runs/{run_id}", obj="run_id"),
    E("POST", "/agents/{name}/runs", body=lambda s, w: {"subject_id": s.lead_id}, kind="create"),
    E("GET", "/suggestions", kind="list"),
    E("POST", "/suggestions/{suggestion_id}/accept", obj="suggestion_id"),
    E("POST", "/suggestions/{suggestion_id}/dismiss", obj="suggestion_id"),
    E("GET", "/approvals", kind="list"), E("GET", "/approvals/{approval_id}", obj="approval_id"),
    E("POST", "/approvals/{approval_id}/approve", obj="approval_id"),
    E("POST", "/approvals/{approval_id}/edit", obj="approval_id", body=_b({"text": "hijacked"})),
    E("POST", "/approvals/{approval_id}/reject", obj="approval_id", body=_b({"reason": "hijacked"})),
    E("POST", "/approvals/bulk-approve", body=lambda s, w: {"approval_ids": [s.approval_id]}, kind="bulk"),
    E("POST", "/approvals/{approval_id}/eval-case", obj="approval_id"),
    E("GET", "/segments", kind="list"),
    E("POST", "/segments", body=lambda s, w: {"name": f"matrix {uuid.uuid4().hex}", "entity": "contact",
                                              "rules": {"field": "account_id", "op": "eq", "value": s.account_id}},
      kind="shared_create", forbid=frozenset(NON_ADMINS) - {"manager_a", "manager_b"}),
    E("POST", "/segments/preview", body=lambda s, w: {"entity": "contact", "rules": {
        "field": "first_name", "op": "eq", "value": s.marker}}, kind="list"),
    E("GET", "/segments/{segment_id}", obj="segment_id", kind="shared"),
    E("GET", "/segments/{segment_id}/members", obj="segment_id", kind="shared"),
    E("PATCH", "/segments/{segment_id}", obj="segment_id", body=_b({"name": "hijacked"}), kind="shared_write"),
    E("DELETE", "/segments/{segment_id}", obj="segment_id", kind="shared_write"),
    E("GET", "/campaigns", kind="list"),
    E("POST", "/campaigns", body=lambda s, w: {"name": f"matrix {uuid.uuid4().hex}", "channel": "ad"},
      kind="shared_create", forbid=frozenset(NON_ADMINS) - {"manager_a", "manager_b"}),
    E("GET", "/campaigns/attribution", kind="list", forbid=frozenset(NON_ADMINS) - {"manager_a", "manager_b"}),
    E("GET", "/campaigns/{campaign_id}", obj="campaign_id", kind="shared"),
    E("PATCH", "/campaigns/{campaign_id}", obj="campaign_id", body=_b({"name": "hijacked"}), kind="shared_write"),
    E("GET", "/prompts", kind="admin"), E("GET", "/prompts/{prompt_id}/versions", kind="admin"),
    E("GET", "/prompts/{prompt_id}/versions/{version}", kind="admin"),
    E("POST", "/prompts/{prompt_id}/versions", body=_b({"template": "x"}), kind="admin"),
    E("GET", "/prompts/{prompt_id}/diff", kind="admin"),
    E("POST", "/prompts/{prompt_id}/versions/{version}/preview", body=_b({"inputs": {}}), kind="admin"),
    E("POST", "/prompts/{prompt_id}/versions/{version}/promote", kind="admin"),
    E("POST", "/prompts/{prompt_id}/rollback", kind="admin"),
    E("POST", "/evals/runs", body=_b({"suite": "injection.v1", "scripted": True}), kind="admin"),
    E("GET", "/evals/jobs/{job_id}", kind="admin"), E("GET", "/evals/suites", kind="admin"),
    E("GET", "/evals/runs", kind="admin"), E("GET", "/evals/runs/{run_id}", kind="admin"),
    E("GET", "/users", kind="admin"),
    E("POST", "/users", body=_b({"email": "x@y.test", "full_name": "x", "role": "admin", "password": "12345678"}),
      kind="admin"),
    E("GET", "/settings", kind="admin"),
    E("PATCH", "/quotes/{quote_id}", obj="quote_id", body=_b({"terms": "hijacked"})),
    E("GET", "/custom-fields", kind="list"), E("GET", "/accounts/{account_id}/360", obj="account_id"),
    E("POST", "/custom-fields", body=_b({"entity": "account", "key": "matrix", "label": "x", "data_type": "text"}),
      kind="admin"),
    E("POST", "/imports/{entity}", kind="admin"),
]
for _i, _e in enumerate(ENTRIES):
    if _e.kind == "admin" and not _e.forbid:
        ENTRIES[_i] = E(_e.method, _e.path, _e.obj, _e.body, ADMIN_ONLY, "admin")

FILLERS = {"prompt_id": "deal_coach.next_actions", "version": "1", "name": "lead_scorer", "job_id": "0" * 32,
           "entity": "lead", "run_id": "1", "pipeline_id": "1", "stage_id": "1"}


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def _path(entry: E, side: Any, world: World, foreign_user: str) -> str:
    values = dict(FILLERS)
    if entry.obj == "key_id":
        values["key_id"] = str(world.key_ids[foreign_user])
    elif entry.obj:
        values[entry.obj] = str(getattr(side, entry.obj))
    return entry.path.format(**values)


def _markers(world: World, sides: tuple[str, ...]) -> list[str]:
    return [world.sides[s].marker.lower() for s in sides]


def _call(client: Any, entry: E, path: str, body: dict[str, Any] | None) -> Any:
    if entry.path == "/imports/{entity}":
        return client.post(path, files={"file": ("x.csv", b"last_name\nx\n", "text/csv")})
    return client.request(entry.method, path, json=body)


def test_every_route_is_in_the_matrix(session: Session) -> None:
    spec = app_for(session).openapi()
    routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    covered = {(e.method, e.path) for e in ENTRIES} | PUBLIC
    assert routes == covered, f"missing: {routes - covered}; stale: {covered - routes}"


def test_anonymous_callers_get_401_everywhere_but_the_public_routes(session: Session, world: World) -> None:
    client = client_for(app_for(session))
    side = world.sides["a"]
    for entry in ENTRIES:
        path = _path(entry, side, world, "rep_a") if entry.obj != "key_id" else "/auth/api-keys/1"
        body = entry.body(side, world) if entry.body else None
        response = _call(client, entry, path, body)
        assert response.status_code == 401, (entry, response.text)
        assert error_of(response)["code"] == "unauthenticated"
        assert side.marker.lower() not in response.text.lower()


def test_every_role_is_refused_outside_its_scope_and_nothing_leaks(session: Session, world: World) -> None:
    app = app_for(session, enqueued=[])
    checked = 0
    for who in NON_ADMINS:
        client = client_for(app, world.keys[who])
        hidden = _markers(world, FOREIGN[who])
        for entry in ENTRIES:
            if entry.kind == "self":
                continue
            for foreign in FOREIGN[who]:
                side = world.sides[foreign]
                other_user = {"a": "rep_a", "a2": "rep_a2", "b": "rep_b"}[foreign]
                path = _path(entry, side, world, other_user)
                body = entry.body(side, world) if entry.body else None
                response = _call(client, entry, path, body)
                text = response.text.lower()
                assert not any(m in text for m in hidden), (who, entry, response.text)
                assert response.status_code != 500, (who, entry, response.text)
                checked += 1
                if who in entry.forbid:
                    assert response.status_code == 403, (who, entry, response.text)
                    assert error_of(response)["code"] == "forbidden"
                elif entry.kind in ("list", "shared"):
                    assert response.status_code == 200, (who, entry, response.text)
                elif entry.kind == "shared_write":
                    assert response.status_code == 403, (who, entry, response.text)
                    assert error_of(response)["code"] == "forbidden"
                elif entry.kind == "shared_create":
                    assert response.status_code == 201, (who, entry, response.text)
                elif entry.kind == "bulk":
                    assert response.status_code == 200
                    assert [i["error"]["code"] for i in response.json()] == ["not_found"]
                elif entry.kind == "create" and entry.path == "/leads":
                    assert response.status_code == 422 and error_of(response)["field"] == "owner_id"
                elif entry.kind == "create" and entry.path == "/agents/{name}/runs":
                    assert response.status_code == 404, (who, entry, response.text)
                else:
                    assert response.status_code == 404, (who, entry, response.text)
                    assert error_of(response)["code"] == "not_found"
    assert checked > 400
    _foreign_objects_untouched(session, world)


def _foreign_objects_untouched(session: Session, world: World) -> None:
    session.expire_all()
    for side in world.sides.values():
        deal = session.get(Deal, side.deal_id)
        assert deal is not None and deal.name.endswith("Deal") and deal.stage_id == world.stage_ids[0]
        account = session.get(Account, side.account_id)
        assert account is not None and account.industry is None
        contact = session.get(Contact, side.contact_id)
        assert contact is not None and contact.title is None and contact.email_consent
        lead = session.get(Lead, side.lead_id)
        assert lead is not None and lead.status.value == "new" and lead.title is None
        task = session.get(Task, side.task_id)
        assert task is not None and task.title.endswith("task")
        assert session.get(Suggestion, side.suggestion_id).status == "open"  # type: ignore[union-attr]
        assert session.get(Approval, side.approval_id).status == "pending"  # type: ignore[union-attr]
        ticket = session.get(Ticket, side.ticket_id)
        assert ticket is not None and ticket.subject.endswith("ticket") and ticket.status.value == "open"
        contract = session.get(Contract, side.contract_id)
        assert contract is not None and contract.plan.endswith("plan")
        invoice = session.get(Invoice, side.invoice_id)
        assert invoice is not None and invoice.status.value == "open"
        assert not success_repo.payments_of(session, side.invoice_id)
        # nothing was created on a foreign account: its only NPS answer is the world's own
        assert session.scalars(select(NpsResponse.id).where(NpsResponse.account_id == side.account_id)).all() == \
            [side.nps_id]
        quote = session.get(Quote, side.quote_id)
        assert quote is not None and quote.status.value == "draft" and quote.terms != "hijacked"
        assert session.scalar(select(func.count()).select_from(SalesOrder)
                              .where(SalesOrder.account_id == side.account_id)) == 1
        segment = session.get(Segment, side.segment_id)
        assert segment is not None and segment.name.startswith("contacts of ")
        campaign = session.get(Campaign, side.campaign_id)
        assert campaign is not None and campaign.name.startswith("campaign of ")


LISTS = {"/accounts": ("account_id", "id"), "/contacts": ("contact_id", "id"), "/leads": ("lead_id", "id"),
         "/deals": ("deal_id", "id"), "/quotes": ("quote_id", "id"), "/activities": ("activity_id", "id"),
         "/tasks": ("task_id", "id"), "/agents/runs": ("run_id", "id"), "/suggestions": ("suggestion_id", "id"),
         "/approvals": ("approval_id", "approval_id"), "/nps-responses": ("nps_id", "id"),
         "/tickets": ("ticket_id", "id"), "/contracts": ("contract_id", "id"), "/invoices": ("invoice_id", "id"),
         "/orders": ("order_id", "id")}


@pytest.mark.parametrize("who", ["rep_a", "manager_a", "csm_a", "rep_b", "csm_b", "admin"])
def test_lists_show_exactly_the_roles_own_objects(session: Session, world: World, who: str) -> None:
    """The converse of the refusals: each role does see its own objects (the matrix cannot pass vacuously)."""
    client = client_for(app_for(session), world.keys[who])
    sees_own = {path: True for path in LISTS}
    sees_own["/tasks"] = who not in CSM  # tasks are the reps'; a CSM sees only tasks assigned to them
    # drafts wait for the account's CSM; the CSMs' manager (same team) sees them too
    sees_own["/approvals"] = who in CSM | {"admin", "manager_a", "manager_b"}
    for path, (attr, key) in LISTS.items():
        response = client.get(path, params={"limit": 500})
        if path == "/leads" and who in CSM:
            assert response.status_code == 403
            continue
        assert response.status_code == 200, (who, path, response.text)
        ids = {row[key] for row in response.json()}
        own = {getattr(world.sides[s], attr) for s in SELF_OWN[who]}
        foreign = {getattr(world.sides[s], attr) for s in FOREIGN.get(who, ())}
        assert (own <= ids) == sees_own[path] and (own & ids or not sees_own[path]), (who, path)
        assert not ids & foreign, (who, path)
        assert not any(m in response.text.lower() for m in _markers(world, FOREIGN.get(who, ()))), (who, path)


def test_objects_in_scope_are_readable(session: Session, world: World) -> None:
    client = client_for(app_for(session), world.keys["manager_a"])
    for side in ("a", "a2"):
        s = world.sides[side]
        for path in (f"/deals/{s.deal_id}", f"/leads/{s.lead_id}", f"/accounts/{s.account_id}",
                     f"/quotes/{s.quote_id}", f"/tasks/{s.task_id}", f"/agents/runs/{s.run_id}"):
            assert client.get(path).status_code == 200, path
    csm = client_for(app_for(session), world.keys["csm_a"])
    assert csm.get(f"/approvals/{world.sides['a'].approval_id}").json()["context"]["marker"] == \
        world.sides["a"].marker
    refused = csm.patch(f"/deals/{world.sides['a'].deal_id}", json={"name": "x"})
    assert refused.status_code == 403  # a CSM reads the deals of their accounts but may not change them


@pytest.mark.parametrize("who", ["rep_a", "manager_a", "csm_a", "rep_b", "csm_b", "admin"])
def test_a_shared_segment_lists_each_role_its_own_members(session: Session, world: World, who: str) -> None:
    """One definition for everyone, as many member lists as scopes: own contacts in, foreign ones never."""
    from core.services import segments as segment_service

    segment = segment_service.create_segment(session, name=f"every contact {uuid.uuid4().hex}", entity="contact",
                                             rules={"all": []})
    client = client_for(app_for(session), world.keys[who])
    response = client.get(f"/segments/{segment.id}/members", params={"limit": 500})
    assert response.status_code == 200, response.text
    ids = set(response.json()["ids"])
    own = {world.sides[s].contact_id for s in SELF_OWN[who]}
    foreign = {world.sides[s].contact_id for s in FOREIGN.get(who, ())}
    assert own <= ids and not ids & foreign, (who, ids)
    assert not any(m in response.text.lower() for m in _markers(world, FOREIGN.get(who, ())))
    assert client.get(f"/segments/{segment.id}").json()["member_count"] == response.json()["total"] == len(ids)
