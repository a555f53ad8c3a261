"""REST API against the real database: CRUD of the CRM objects, stage moves, quotes, tasks, suggestions,
agent runs; every error is JSON {"error": {code, field, message}} with a 4xx; health, metrics and OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Activity, AgentRun, AuditLog, Deal, DealStageHistory, Lead, Suggestion
from tests.api_support import World, app_for, build_world, client_for, error_of


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def enqueued() -> list[int]:
    return []


@pytest.fixture
def app(session: Session, enqueued: list[int]) -> Any:
    return app_for(session, enqueued=enqueued)


def as_(app: Any, world: World, who: str) -> TestClient:
    return client_for(app, world.keys[who])


def test_account_contact_lead_crud_as_a_rep(app: Any, world: World, session: Session) -> None:
    rep = as_(app, world, "rep_a")
    created = rep.post("/accounts", json={"name": "Globex", "country": "DE", "employees": 120})
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["account_manager_id"] == world.users["rep_a"]
    assert rep.get(f"/accounts/{account['id']}").json()["name"] == "Globex"
    patched = rep.patch(f"/accounts/{account['id']}", json={"industry": "Technology"})
    assert patched.json()["industry"] == "Technology"
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "account",
                                                   AuditLog.entity_id == account["id"],
                                                   AuditLog.action == "update")).one()
    assert audit.after == {"industry": "Technology"} and audit.actor_id == world.users["rep_a"]

    contact = rep.post("/contacts", json={"first_name": "Ada", "last_name": "Byte", "account_id": account["id"],
                                          "emails": ["ada@globex.test"]})
    assert contact.status_code == 201, contact.text
    assert contact.json()["owner_id"] == world.users["rep_a"]
    listed = rep.get("/contacts", params={"account_id": account["id"]}).json()
    assert [c["first_name"] for c in listed] == ["Ada"]

    lead = rep.post("/leads", json={"first_name": "Lin", "last_name": "Ko", "company_name": "Initech"})
    assert lead.status_code == 201, lead.text
    lead_id = lead.json()["id"]
    assert rep.post(f"/leads/{lead_id}/status", json={"status": "qualified"}).json()["status"] == "qualified"
    converted = rep.post(f"/leads/{lead_id}/convert", json={"deal_name": "Initech pilot", "amount": "5000"})
    assert converted.status_code == 200, converted.text
    deal = session.get(Deal, converted.json()["deal_id"])
    assert deal is not None and deal.name == "Initech pilot"
    assert rep.delete(f"/contacts/{contact.json()['id']}").status_code == 204
    assert rep.get(f"/contacts/{contact.json()['id']}").status_code == 404


def test_deal_stage_move_quote_activity_task(app: Any, world: World, session: Session) -> None:
    rep = as_(app, world, "rep_a")
    side = world.sides["a"]
    deal = rep.post("/deals", json={"name": "Big one", "amount": "12000.50", "account_id": side.account_id})
    assert deal.status_code == 201, deal.text
    deal_id = deal.json()["id"]
    pipelines = rep.get("/pipelines").json()
    stages = next(p for p in pipelines if p["id"] == deal.json()["pipeline_id"])["stages"]
    moved = rep.post(f"/deals/{deal_id}/stage", json={"stage_id": stages[1]["id"]})
    assert moved.status_code == 200 and moved.json()["stage_id"] == stages[1]["id"]
    history = session.scalars(select(DealStageHistory).where(DealStageHistory.deal_id == deal_id)).all()
    assert len(history) == 2 and history[-1].changed_by_id == world.users["rep_a"]

    lost = next(s for s in stages if s["is_lost"])
    refused = rep.post(f"/deals/{deal_id}/stage", json={"stage_id": lost["id"]})
    assert refused.status_code == 422 and error_of(refused)["field"] == "lost_reason"
    closed = rep.post(f"/deals/{deal_id}/stage", json={"stage_id": lost["id"], "lost_reason": "budget"})
    assert closed.json()["status"] == "lost"
    again = rep.post(f"/deals/{deal_id}/stage", json={"stage_id": stages[0]["id"]})
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"

    quote = rep.post("/quotes", json={"account_id": side.account_id, "deal_id": side.deal_id, "tax_rate": "0.2",
                                      "lines": [{"quantity": "3", "description": "Seats", "unit_price": "50",
                                                 "discount_pct": "10"}]})
    assert quote.status_code == 201, quote.text
    q = quote.json()
    assert q["total"] == "162.00" and q["lines"][0]["line_total"] == "135.00"
    assert rep.get(f"/quotes/{q['id']}").json()["number"] == q["number"]
    assert q["id"] in [x["id"] for x in rep.get("/quotes", params={"deal_id": side.deal_id}).json()]

    activity = rep.post("/activities", json={"kind": "call", "subject": "Intro call", "deal_id": side.deal_id})
    assert activity.status_code == 201
    act = session.get(Activity, activity.json()["id"])
    assert act is not None and act.user_id == world.users["rep_a"]
    timeline = rep.get("/activities", params={"deal_id": side.deal_id}).json()
    assert timeline[0]["subject"] == "Intro call"

    task = rep.post("/tasks", json={"title": "Send deck", "deal_id": side.deal_id, "priority": "high"})
    assert task.status_code == 201 and task.json()["assignee_id"] == world.users["rep_a"]
    done = rep.patch(f"/tasks/{task.json()['id']}", json={"status": "done"})
    assert done.json()["status"] == "done" and done.json()["completed_at"] is not None
    mine = rep.get("/tasks", params={"mine": "true", "status": "done"}).json()
    assert [t["title"] for t in mine] == ["Send deck"]


def test_suggestions_accept_dismiss_and_agent_runs(app: Any, world: World, session: Session,
                                                    enqueued: list[int]) -> None:
    rep = as_(app, world, "rep_a")
    side = world.sides["a"]
    listed = rep.get("/suggestions", params={"subject_type": "deal", "subject_id": side.deal_id}).json()
    assert [s["id"] for s in listed] == [side.suggestion_id]
    accepted = rep.post(f"/suggestions/{side.suggestion_id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["suggestion"]["status"] == "accepted"
    row = session.get(Suggestion, side.suggestion_id)
    assert row is not None and row.decided_by_id == world.users["rep_a"]
    twice = rep.post(f"/suggestions/{side.suggestion_id}/dismiss")
    assert twice.status_code == 409

    runs = rep.get("/agents/runs").json()
    assert {r["id"] for r in runs} == {world.sides["a"].run_id}
    detail = rep.get(f"/agents/runs/{side.run_id}").json()
    assert detail["summary"]["marker"] == side.marker and detail["outputs"]["suggestions"][0]["id"] == row.id
    assert "cost_usd" in detail and detail["steps"] == []

    started = rep.post("/agents/lead_scorer/runs", json={"subject_id": side.lead_id})
    assert started.status_code == 202, started.text
    run = session.get(AgentRun, started.json()["id"])
    assert run is not None and run.status == "queued" and run.subject_id == side.lead_id
    assert enqueued == [run.id]  # handed to the worker after the request committed
    other = rep.post("/agents/lead_scorer/runs", json={"subject_id": world.sides["b"].lead_id})
    assert other.status_code == 404
    unknown = rep.post("/agents/nope/runs", json={"subject_id": side.lead_id})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "agent"


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("post", "/accounts", {"name": ""}, "name"),
    ("post", "/accounts", {"name": "x", "employees": -1}, "employees"),
    ("post", "/accounts", {"name": "x\x00y"}, "name"),
    ("post", "/leads", {"first_name": "only"}, "lead"),
    ("post", "/leads", {"email": "not-an-email"}, "email"),
    ("post", "/deals", {"name": "x", "amount": "-5"}, "amount"),
    ("post", "/deals", {"name": "x", "amount": "NaN"}, "amount"),
    ("post", "/quotes", {"account_id": 1, "lines": []}, "lines"),
    ("post", "/tasks", {"title": "t", "priority": "whenever"}, "priority"),
    ("get", "/accounts/99999999999999999999999", None, "account_id"),
    ("get", "/leads?limit=100000", None, "limit"),
])
def test_bad_input_is_a_json_422_naming_the_field(app: Any, world: World, method: str, path: str,
                                                   body: dict[str, Any] | None, field: str) -> None:
    rep = as_(app, world, "rep_a")
    response = getattr(rep, method)(path, **({"json": body} if body is not None else {}))
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field


def test_not_found_conflict_and_unauthenticated_are_json(app: Any, world: World) -> None:
    rep = as_(app, world, "rep_a")
    missing = rep.get("/deals/987654321")
    assert missing.status_code == 404 and error_of(missing) == {
        "code": "not_found", "field": "deal", "message": "deal 987654321 not found"}
    anon = client_for(app).get("/deals")
    assert anon.status_code == 401 and error_of(anon)["code"] == "unauthenticated"
    assert anon.headers["www-authenticate"] == "Bearer"
    bad_json = rep.post("/accounts", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422 and error_of(bad_json)["code"] == "invalid_input"
    nowhere = rep.get("/no/such/route")
    assert nowhere.status_code == 404 and error_of(nowhere)["code"] == "not_found"


def test_health_metrics_and_openapi(app: Any, world: World) -> None:
    anon = client_for(app)
    assert anon.get("/healthz").json() == {"status": "ok"}
    ready = anon.get("/readyz")
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.status_code == (200 if ready.json()["checks"]["broker"] == "ok" else 503)
    as_(app, world, "rep_a").get("/leads")
    metrics = anon.get("/metrics").text
    assert 'salesagents_http_requests_total{method="GET",route="/leads",status="200"} 1.0' in metrics
    spec = anon.get("/openapi.json").json()
    assert {"/leads", "/public/leads", "/approvals/{approval_id}/approve", "/prompts/{prompt_id}/rollback",
            "/evals/runs", "/agents/{name}/runs", "/imports/{entity}"} <= set(spec["paths"])


def test_leads_ranked_by_score(app: Any, world: World, session: Session) -> None:
    rep = as_(app, world, "rep_a")
    for score, name in ((40, "Low"), (90, "High")):
        lead = rep.post("/leads", json={"last_name": name}).json()
        row = session.get(Lead, lead["id"])
        assert row is not None
        row.score = score
    session.flush()
    ranked = rep.get("/leads", params={"by_score": "true"}).json()
    assert [x["last_name"] for x in ranked[:2]] == ["High", "Low"]
