"""API test support: an app bound to the test's rolled-back session, and a small world of users and objects
in two teams, each object carrying a marker string so a test can prove it never leaks to the wrong role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session, unit_of_work
from core.config import Settings
from core.models import AgentRun, Approval, Draft, SalesOrder, Suggestion, Task, Team
from core.models.enums import ActivityKind, Role
from core.services import auth as auth_service
from core.services import campaigns as campaign_service
from core.services import quotes as quote_service
from core.services import segments as segment_service
from tests import factories


def app_for(session: Session, settings: Settings | None = None,
            enqueued: list[int] | None = None) -> FastAPI:
    """The real app; its request sessions are the test's session (savepoints inside the rolled-back test)."""
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        # Keep what the test wrote so far (releases its savepoint; the outer transaction is still rolled back
        # at the end), so a request that fails rolls back only its own work, as a real request would.
        session.commit()
        yield from unit_of_work(session)

    app.dependency_overrides[get_session] = _session
    if enqueued is not None:
        app.state.enqueue = enqueued.append
    return app


def client_for(app: FastAPI, key: str | None = None) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    if key:
        client.headers["Authorization"] = f"Bearer {key}"
    return client


@dataclass
class Side:
    """One team's (or one CSM's) objects: everything someone outside it must never see."""

    marker: str
    owner: int = 0
    lead_id: int = 0
    account_id: int = 0
    contact_id: int = 0
    deal_id: int = 0
    quote_id: int = 0
    activity_id: int = 0
    task_id: int = 0
    run_id: int = 0
    suggestion_id: int = 0
    approval_id: int = 0
    nps_id: int = 0
    ticket_id: int = 0
    contract_id: int = 0
    invoice_id: int = 0
    order_id: int = 0
    segment_id: int = 0
    campaign_id: int = 0


@dataclass
class World:
    users: dict[str, int]
    keys: dict[str, str]
    key_ids: dict[str, int] = field(default_factory=dict)
    sides: dict[str, Side] = field(default_factory=dict)
    stage_ids: list[int] = field(default_factory=list)


ROLES = {"rep_a": Role.rep, "rep_a2": Role.rep, "manager_a": Role.manager, "rep_b": Role.rep,
         "manager_b": Role.manager, "csm_a": Role.csm, "csm_b": Role.csm, "admin": Role.admin}


def _side(session: Session, owner: int, csm: int, marker: str, stage_ids: list[int]) -> Side:
    """A lead, account (+contact, deal, quote, order, activity, task, run, suggestion, draft awaiting the CSM, NPS
    answer, ticket, contract, open invoice)."""
    s = Side(marker, owner=owner)
    s.lead_id = factories.lead(session, owner_id=owner, company_name=f"{marker} Lead Co",
                               email=f"{marker.lower()}@lead.test", last_name=marker).id
    account = factories.account(session, name=f"{marker} Account", account_manager_id=owner, csm_id=csm)
    s.account_id = account.id
    s.contact_id = factories.contact(session, email=f"{marker.lower()}@contact.test", account_id=account.id,
                                     owner_id=owner, first_name=marker).id
    s.deal_id = factories.deal(session, name=f"{marker} Deal", owner_id=owner, account_id=account.id).id
    if not stage_ids:
        from core.models import Deal
        from core.repositories import pipeline as pipeline_repo

        deal = session.get(Deal, s.deal_id)
        assert deal is not None
        stage_ids.extend(st.id for st in pipeline_repo.stages(session, deal.pipeline_id))
    s.quote_id = quote_service.create_quote(
        session, account_id=account.id, deal_id=s.deal_id, currency="USD", terms=marker,
        lines=[quote_service.LineInput(quantity=Decimal(2), description=f"{marker} seats",
                                       unit_price=Decimal("100"))]).id
    s.activity_id = factories.activity(session, kind=ActivityKind.note, subject=f"{marker} call",
                                       deal_id=s.deal_id, user_id=owner).id
    task = Task(title=f"{marker} task", assignee_id=owner, deal_id=s.deal_id)
    session.add(task)
    run = AgentRun(agent="deal_coach", trigger="manual", subject_type="deal", subject_id=s.deal_id,
                   status="succeeded", summary={"marker": marker})
    session.add(run)
    session.flush()
    s.task_id, s.run_id = task.id, run.id
    sug = Suggestion(run_id=run.id, agent="deal_coach", subject_type="deal", subject_id=s.deal_id,
                     idempotency_key=f"t:{uuid.uuid4().hex}", title=f"{marker} suggestion", body=marker)
    draft = Draft(run_id=run.id, agent="nps_followup", subject_type="account", subject_id=account.id,
                  idempotency_key=f"t:{uuid.uuid4().hex}", recipient=f"{marker.lower()}@contact.test",
                  subject=f"{marker} reply", body=f"{marker} body", context={"marker": marker})
    session.add_all([sug, draft])
    session.flush()
    now = datetime.now(UTC)
    approval = Approval(draft_id=draft.id, run_id=run.id, reviewer_id=csm, due_at=now + timedelta(hours=4),
                        expires_at=now + timedelta(days=3))
    session.add(approval)
    session.flush()
    s.suggestion_id, s.approval_id = sug.id, approval.id
    s.nps_id = factories.nps(session, account.id, 4, contact_id=s.contact_id, comment=f"{marker} comment").id
    s.ticket_id = factories.ticket(session, account.id, subject=f"{marker} ticket", assignee_id=csm).id
    s.contract_id = factories.contract(session, account.id, plan=f"{marker} plan").id
    s.invoice_id = factories.invoice(session, account.id, number=f"INV-{marker}").id
    # An order of the account without a deal (seen through the account's scope), so the side's deal stays open
    # and can still get the order of an accepted quote.
    order = SalesOrder(number=f"SO-{marker}", account_id=account.id, currency="USD", total=Decimal("200"))
    session.add(order)
    session.flush()
    s.order_id = order.id
    return s


def build_world(session: Session) -> World:
    """Team A (manager_a, rep_a, rep_a2) and team B (manager_b, rep_b); csm_a serves A's accounts, csm_b B's."""
    tag = uuid.uuid4().hex[:6]
    team_a = Team(name=f"Team A {tag}")
    team_b = Team(name=f"Team B {tag}")
    session.add_all([team_a, team_b])
    session.flush()
    users: dict[str, int] = {}
    keys: dict[str, str] = {}
    key_ids: dict[str, int] = {}
    for name, role in ROLES.items():
        team = team_a.id if name.endswith("_a") or name == "rep_a2" else team_b.id if name.endswith("_b") else None
        user = factories.user(session, role=role, team_id=team, email=f"{name}.{tag}@example.test",
                              full_name=name)
        users[name] = user.id
        key, keys[name] = auth_service.create_api_key(session, user.id, "test")
        key_ids[name] = key.id
    world = World(users, keys, key_ids)
    world.sides["a"] = _side(session, users["rep_a"], users["csm_a"], f"ALPHA{tag}", world.stage_ids)
    world.sides["a2"] = _side(session, users["rep_a2"], users["csm_a"], f"ALTWO{tag}", world.stage_ids)
    world.sides["b"] = _side(session, users["rep_b"], users["csm_b"], f"BRAVO{tag}", world.stage_ids)
    for side, rep, manager in (("a", "rep_a", "manager_a"), ("a2", "rep_a2", "manager_a"), ("b", "rep_b", "manager_b")):
        # shared definitions without the marker (everyone may read them); their members are the side's contacts
        world.sides[side].segment_id = segment_service.create_segment(
            session, name=f"contacts of {rep} {tag}", entity="contact", created_by_id=users[manager],
            rules={"field": "owner_id", "op": "eq", "value": users[rep]}).id
        # campaigns are shared definitions too (no marker); the side's manager owns it
        world.sides[side].campaign_id = campaign_service.create_campaign(
            session, name=f"campaign of {rep} {tag}", channel="ad", utm_campaign=f"matrix-{side}-{tag}",
            owner_id=users[manager]).id
    return world


def error_of(response: Any) -> dict[str, Any]:
    """The JSON error body every failure has; asserts its shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "field", "message"} <= set(body["error"]), body
    assert "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]


