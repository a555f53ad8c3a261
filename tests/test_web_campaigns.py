"""The campaigns pages (TestClient on the rolled-back session, like tests/test_web_pages.py): every role lists the
shared campaigns with their reach; managers and admins get the attribution table, whose figures for a hand-built
case (one won deal, two touches) are exact for each model; managers create a campaign and change its cost and
dates; a refused value comes back naming the field and writes nothing; reps get neither the table nor the forms,
and their forged posts answer 403."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditLog, Campaign, OutboxEvent
from core.models.enums import AttributionModel
from core.repositories import campaigns as campaign_repo
from core.services import auth as auth_service
from core.services import campaigns as campaign_service
from core.services import deals as deal_service
from core.services import leads as lead_service
from tests import factories
from tests.api_support import World, build_world
from tests.test_web_pages import PASSWORD, _email, no_trace, signed_in

WON = datetime(2003, 3, 15, 12, tzinfo=UTC)
PERIOD = "since=2003-03-01&until=2003-03-31"


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    for name in w.users:
        auth_service.set_password(session, _email(session, w, name), PASSWORD)
    return w


def _cell(text: str, testid: str) -> str:
    match = re.search(rf'data-testid="{re.escape(testid)}">([^<]*)<', text)
    assert match, (testid, text[:2000])
    return match.group(1)


def _campaign_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)


def _events(session: Session, campaign_id: int, kind: str) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.topic == kind, OutboxEvent.aggregate_type == "campaign",
        OutboxEvent.aggregate_id == campaign_id)) or 0)


def test_every_role_lists_the_campaigns_but_only_managers_and_admins_get_attribution(session: Session,
                                                                                   world: World) -> None:
    a = world.sides["a"]
    lead = factories.lead(session, company_name="Reach Co").id
    for days in (3, 2):
        campaign_repo.add_touch(session, campaign_id=a.campaign_id, lead_id=lead, touched_at=WON - timedelta(days),
                                medium="email")
    campaign = session.get(Campaign, a.campaign_id)
    assert campaign is not None
    for name in ("rep_a", "csm_a", "manager_b", "manager_a", "admin"):
        client, _ = signed_in(session, world, name)
        page = client.get("/app/campaigns")
        assert page.status_code == 200, (name, page.text[:500])
        no_trace(page)
        assert 'href="/app/campaigns"' in page.text  # in the navigation
        assert campaign.name in page.text and f"<code>{campaign.utm_campaign}</code>" in page.text
        assert (_cell(page.text, f"touches-{a.campaign_id}"), _cell(page.text, f"leads-{a.campaign_id}")) == ("2", "1")
        reports = name in ("manager_a", "manager_b", "admin")
        assert ('data-testid="attribution"' in page.text) is reports, name
        assert ('data-testid="create-form"' in page.text) is reports, name
        detail = client.get(f"/app/campaigns/{a.campaign_id}")
        assert detail.status_code == 200 and _cell(detail.text, "touches") == "2"
        # only the owning manager (manager_a) and admins get the edit form
        assert ('data-testid="edit-form"' in detail.text) is (name in ("manager_a", "admin")), name
    assert signed_in(session, world, "rep_a")[0].get("/app/campaigns/999999999").status_code == 404


@pytest.mark.parametrize(("model", "a_figures", "b_figures"), [
    # (won deals, attributed revenue, ROI) for A (cost 100.00) and B (cost 50.00) on a 1,000.01 USD deal
    (AttributionModel.first_touch, ("1", "1,000.01", "10.0001"), ("0", "0.00", "0.0000")),
    (AttributionModel.last_touch, ("0", "0.00", "0.0000"), ("1", "1,000.01", "20.0002")),
    # two equal parts of 100001 cents: the odd cent goes to the lower campaign id (A)
    (AttributionModel.linear, ("1", "500.01", "5.0001"), ("1", "500.00", "10.0000")),
])
def test_the_attribution_table_shows_the_exact_figures_of_each_model(
        session: Session, world: World, model: AttributionModel, a_figures: tuple[str, str, str],
        b_figures: tuple[str, str, str]) -> None:
    tag = uuid.uuid4().hex[:6]
    a = campaign_service.create_campaign(session, name=f"first {tag}", channel="ad", cost=Decimal("100"))
    b = campaign_service.create_campaign(session, name=f"second {tag}", channel="email", cost=Decimal("50"))
    lead = factories.lead(session, company_name=f"Attributed {tag}").id
    campaign_repo.add_touch(session, campaign_id=a.id, lead_id=lead, touched_at=WON - timedelta(days=20),
                            medium="cpc")
    campaign_repo.add_touch(session, campaign_id=b.id, lead_id=lead, touched_at=WON - timedelta(days=10),
                            medium="email")
    converted = lead_service.convert_lead(session, lead, amount=Decimal("1000.01"), now=WON - timedelta(days=8))
    assert converted.deal is not None and converted.deal.currency == "USD"
    deal_service.close_won(session, converted.deal.id, now=WON)

    client, _ = signed_in(session, world, "manager_a")
    page = client.get(f"/app/campaigns?model={model.value}&{PERIOD}")
    assert page.status_code == 200, page.text[:1000]
    no_trace(page)
    assert f"{model.value} · deals won 2003-03-01 to 2003-03-31" in page.text
    assert f'<option value="{model.value}" selected>' in page.text
    for campaign, (won, revenue, roi), cost in ((a, a_figures, "100.00"), (b, b_figures, "50.00")):
        assert _cell(page.text, f"won-{campaign.id}-USD") == won, (model, campaign.name)
        assert _cell(page.text, f"revenue-{campaign.id}-USD") == revenue, (model, campaign.name)
        assert _cell(page.text, f"roi-{campaign.id}") == roi, (model, campaign.name)
        assert _cell(page.text, f"cost-{campaign.id}") == cost
    totals = re.search(r'data-testid="total-USD">(.*?)</tr>', page.text, re.S)
    assert totals is not None
    # the one deal won in the period, fully attributed whatever the model
    assert re.findall(r'class="num">([^<]*)<', totals.group(1))[:4] == ["1", "1,000.01", "1", "1,000.01"]


def test_a_refused_period_or_model_names_its_field(session: Session, world: World) -> None:
    client, _ = signed_in(session, world, "admin")
    for query, message in (("since=2003-13-01", "since: must be a date as YYYY-MM-DD"),
                           ("since=2003-03-31&until=2003-03-01", "until: 2003-03-01 is before since (2003-03-31)"),
                           ("model=middle_touch", "model: &#39;middle_touch&#39; is not one of")):
        page = client.get(f"/app/campaigns?{query}")
        assert page.status_code == 422 and message in _cell(page.text, "report-error"), (query, page.text[:800])
        assert 'data-testid="campaigns"' in page.text  # the list still shows
        no_trace(page)


def test_a_rep_sees_no_attribution_and_forged_posts_are_refused(session: Session, world: World) -> None:
    a = world.sides["a"]
    before = _campaign_count(session)
    for name in ("rep_a", "csm_a"):
        client, csrf = signed_in(session, world, name)
        page = client.get(f"/app/campaigns?model=linear&{PERIOD}")
        assert page.status_code == 200 and 'id="attribution"' not in page.text and "ROI" not in page.text
        forged = client.post("/app/campaigns", data={"csrf_token": csrf, "name": f"forged {name}", "channel": "ad",
                                                     "cost": "10", "currency": "USD"})
        assert forged.status_code == 403 and "may not create campaigns" in forged.text, forged.text[:500]
        no_trace(forged)
        edit = client.post(f"/app/campaigns/{a.campaign_id}", data={"csrf_token": csrf, "cost": "1"})
        assert edit.status_code == 403
    other, other_csrf = signed_in(session, world, "manager_b")  # a manager, but not the owner
    refused = other.post(f"/app/campaigns/{a.campaign_id}", data={"csrf_token": other_csrf, "cost": "1"})
    assert refused.status_code == 403 and "only the manager who owns a campaign" in refused.text
    owner, _ = signed_in(session, world, "manager_a")
    no_token = owner.post("/app/campaigns", data={"name": "no token", "channel": "ad"})
    assert no_token.status_code == 403
    session.expire_all()
    assert _campaign_count(session) == before
    assert _events(session, a.campaign_id, "campaign.updated") == 0


def test_a_manager_creates_a_campaign_and_changes_its_cost_and_dates(session: Session, world: World) -> None:
    client, csrf = signed_in(session, world, "manager_a")
    name = f"Spring webinar {uuid.uuid4().hex[:6]}"
    created = client.post("/app/campaigns", data={
        "csrf_token": csrf, "name": name, "channel": "webinar", "utm_campaign": f"utm-{name[-6:]}",
        "start_date": "2026-03-01", "end_date": "", "cost": "1200.50", "expected_revenue": "", "currency": "eur"},
        follow_redirects=False)
    assert created.status_code == 303, created.text[:800]
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    assert campaign is not None
    assert created.headers["location"].startswith(f"/app/campaigns/{campaign.id}?msg=")
    assert (campaign.cost, campaign.currency, campaign.start_date, campaign.end_date, campaign.owner_id) == (
        Decimal("1200.50"), "EUR", date(2026, 3, 1), None, world.users["manager_a"])
    assert _events(session, campaign.id, "campaign.created") == 1
    page = client.get(created.headers["location"])
    assert f"Campaign {name} created" in page.text and _cell(page.text, "cost") == "1,200.50 EUR"

    saved = client.post(f"/app/campaigns/{campaign.id}", data={
        "csrf_token": csrf, "cost": "900", "start_date": "2026-03-02", "end_date": "2026-04-30"},
        follow_redirects=False)
    assert saved.status_code == 303 and "Cost+and+dates+saved" in saved.headers["location"]
    session.expire_all()
    campaign = session.get(Campaign, campaign.id)
    assert campaign is not None
    assert (campaign.cost, campaign.start_date, campaign.end_date) == (
        Decimal("900.00"), date(2026, 3, 2), date(2026, 4, 30))
    assert _events(session, campaign.id, "campaign.updated") == 1
    audit = session.scalar(select(AuditLog).where(AuditLog.entity_type == "campaign",
                                                  AuditLog.entity_id == campaign.id, AuditLog.action == "update"))
    assert audit is not None and audit.actor_id == world.users["manager_a"]
    again = client.post(f"/app/campaigns/{campaign.id}", data={
        "csrf_token": csrf, "cost": "900.00", "start_date": "2026-03-02", "end_date": "2026-04-30"},
        follow_redirects=False)
    assert again.status_code == 303 and "Nothing+changed" in again.headers["location"]
    assert _events(session, campaign.id, "campaign.updated") == 1


@pytest.mark.parametrize(("cost", "message"), [
    ("-5", "cost: must be between 0 and"),
    ("abc", "cost: &#39;abc&#39; is not an amount"),
    ("NaN", "cost: must be between 0 and"),
])
def test_a_bad_cost_re_renders_the_form_naming_the_field_and_writes_nothing(session: Session, world: World,
                                                                            cost: str, message: str) -> None:
    a = world.sides["a"]
    before = _campaign_count(session)
    client, csrf = signed_in(session, world, "manager_a")
    name = f"Bad cost {uuid.uuid4().hex[:6]}"
    refused = client.post("/app/campaigns", data={"csrf_token": csrf, "name": name, "channel": "ad", "cost": cost,
                                                  "currency": "USD"})
    assert refused.status_code == 422, refused.text[:800]
    no_trace(refused)
    assert message in _cell(refused.text, "form-error")
    assert f'value="{name}"' in refused.text and f'value="{cost}"' in refused.text  # what was typed is kept
    campaign = session.get(Campaign, a.campaign_id)
    assert campaign is not None
    old = (campaign.cost, campaign.start_date, campaign.end_date)
    edit = client.post(f"/app/campaigns/{a.campaign_id}", data={"csrf_token": csrf, "cost": cost,
                                                                 "start_date": "2026-01-01", "end_date": ""})
    assert edit.status_code == 422 and message in _cell(edit.text, "form-error")
    assert 'value="2026-01-01"' in edit.text
    session.expire_all()
    assert _campaign_count(session) == before
    campaign = session.get(Campaign, a.campaign_id)
    assert campaign is not None and (campaign.cost, campaign.start_date, campaign.end_date) == old
    assert _events(session, a.campaign_id, "campaign.updated") == 0


def test_dates_in_the_wrong_order_name_the_end_date(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "admin")
    refused = client.post(f"/app/campaigns/{a.campaign_id}", data={
        "csrf_token": csrf, "cost": "10", "start_date": "2026-05-01", "end_date": "2026-04-01"})
    assert refused.status_code == 422
    assert "end_date: ends (2026-04-01) before it starts (2026-05-01)" in _cell(refused.text, "form-error")
    missing = client.post("/app/campaigns", data={"csrf_token": csrf, "name": "", "channel": "ad"})
    assert missing.status_code == 422 and "name: is required" in _cell(missing.text, "form-error")
