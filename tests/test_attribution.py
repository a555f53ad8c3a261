"""Campaign touches and attribution: hand-built touches with known answers for first touch, last touch and linear,
touches after the win ignored, currencies kept apart, ROI without a cost; touches written by lead capture (web
form, POST /leads, CSV import); the API's roles and errors; and the CLI on a committed database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from celery.schedules import crontab
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from agents.campaign_report import previous_week, write_weekly_report
from agents.celery_app import beat_schedule
from agents.enqueue import CAMPAIGN_REPORT
from core.config import Settings
from core.errors import InvalidInput
from core.models import AuditLog, Campaign, CampaignTouch, Lead, OutboxEvent
from core.models.enums import AttributionModel, Role
from core.repositories import campaigns as campaign_repo
from core.services import attribution
from core.services import auth as auth_service
from core.services import campaigns as campaign_service
from core.services import deals as deal_service
from core.services import leads as lead_service
from core.services.attribution import AttributionReport, CampaignResult
from core.services.importing import import_csv
from tests import factories
from tests.api_support import app_for, client_for, error_of
from tests.cli_support import run_cli

WON = datetime(2021, 6, 15, 12, tzinfo=UTC)
SINCE, UNTIL = date(2021, 6, 1), date(2021, 6, 30)
D = Decimal


def _days(n: float) -> datetime:
    return WON + timedelta(days=n)


@dataclass
class Scene:
    a: int
    b: int
    lead: int
    deal: int


def _campaign(session: Session, name: str, utm: str | None, cost: str, currency: str = "USD") -> int:
    return campaign_service.create_campaign(session, name=name, channel="ad", utm_campaign=utm, cost=D(cost),
                                            currency=currency).id


def _touch(session: Session, campaign: int, at: datetime, lead: int | None = None, contact: int | None = None
           ) -> None:
    campaign_repo.add_touch(session, campaign_id=campaign, lead_id=lead, contact_id=contact, touched_at=at,
                            medium="cpc")


def _won(session: Session, amount: str, at: datetime = WON, currency: str = "USD", **kw: object) -> int:
    deal = factories.deal(session, amount=D(amount), currency=currency, now=at - timedelta(days=30), **kw)
    deal_service.close_won(session, deal.id, now=at)
    return int(deal.id)


@pytest.fixture
def scene(session: Session) -> Scene:
    """A (cost 300 USD) and B (no cost). A lead touched A, B, A, converted into a 900 USD deal won on WON, then
    touched B once more (after the win). A EUR customer's contact touched by B wins 500 EUR. Outside the period:
    a deal won later; inside it: a deal nobody touched."""
    a = _campaign(session, "Spring ads", "spring-a", "300")
    b = _campaign(session, "Webinar", "webinar-b", "0")
    lead = factories.lead(session, company_name="Touched Co").id
    _touch(session, a, _days(-30), lead=lead)
    _touch(session, b, _days(-20), lead=lead)
    _touch(session, a, _days(-10), lead=lead)
    converted = lead_service.convert_lead(session, lead, amount=D(900), now=_days(-8))
    assert converted.deal is not None
    deal_service.close_won(session, converted.deal.id, now=WON)
    _touch(session, b, _days(1), lead=lead)  # after the win: never counts

    eur = factories.account(session, name="Euro GmbH", currency="EUR")
    contact = factories.contact(session, account_id=eur.id)
    _touch(session, b, _days(-5), contact=contact.id)
    _won(session, "500", currency="EUR", account_id=eur.id, primary_contact_id=contact.id)

    late_lead = factories.lead(session, company_name="Late Co").id
    _touch(session, a, _days(-3), lead=late_lead)
    late = lead_service.convert_lead(session, late_lead, amount=D(1000), now=_days(-2))
    assert late.deal is not None
    deal_service.close_won(session, late.deal.id, now=_days(40))
    _won(session, "200")  # no touch: revenue no campaign explains
    return Scene(a, b, lead, converted.deal.id)


def _row(report: AttributionReport, campaign_id: int) -> CampaignResult:
    return next(c for c in report.campaigns if c.campaign_id == campaign_id)


def _revenue(result: CampaignResult) -> dict[str, Decimal]:
    return {r.currency: r.attributed_revenue for r in result.revenue}


@pytest.mark.parametrize(("model", "a_usd", "b_usd", "a_roi"), [
    (AttributionModel.first_touch, "900.00", "0", "3.0000"),
    (AttributionModel.last_touch, "900.00", "0", "3.0000"),  # B's later touch came after the win
    (AttributionModel.linear, "600.00", "300.00", "2.0000"),
])
def test_each_model_shares_the_deal_as_defined(session: Session, scene: Scene, model: AttributionModel,
                                                a_usd: str, b_usd: str, a_roi: str) -> None:
    report = attribution.report(session, model, since=SINCE, until=UNTIL)
    a, b = _row(report, scene.a), _row(report, scene.b)
    assert _revenue(a) == {"USD": D(a_usd)}
    assert _revenue(b) == {"USD": D(b_usd), "EUR": D("500.00")}  # other currency kept apart, never added
    assert a.roi == D(a_roi) and b.roi is None  # no cost: no ROI
    assert [(r.currency, r.won_deals) for r in a.revenue] == [("USD", 1)]
    assert [(r.currency, r.won_deals) for r in b.revenue] == [("USD", int(D(b_usd) > 0)), ("EUR", 1)]
    totals = {t.currency: t for t in report.totals}
    usd, eur = totals["USD"], totals["EUR"]
    assert (usd.won_deals, usd.won_revenue, usd.attributed_deals, usd.attributed_revenue, usd.cost, usd.roi) == (
        2, D("1100.00"), 1, D("900.00"), D("300.00"), D("3.0000"))
    assert (eur.won_deals, eur.won_revenue, eur.attributed_deals, eur.attributed_revenue, eur.cost, eur.roi) == (
        1, D("500.00"), 1, D("500.00"), D(0), None)


def test_touches_and_leads_count_the_period(session: Session, scene: Scene) -> None:
    report = attribution.report(session, "linear", since=SINCE, until=UNTIL)
    a, b = _row(report, scene.a), _row(report, scene.b)
    # in June: A's third touch and the late lead's touch; B's touch after the win and the contact's touch
    assert (a.touches, a.leads) == (2, 2)
    assert (b.touches, b.leads) == (2, 1)
    assert (report.touches, report.leads) == (4, 2)


def test_a_touch_after_the_win_is_ignored_even_when_it_is_the_only_one(session: Session) -> None:
    a = _campaign(session, "Only late", "late-only", "10")
    contact = factories.contact(session, account_id=factories.account(session).id)
    _touch(session, a, _days(2), contact=contact.id)
    _won(session, "400", primary_contact_id=contact.id)
    report = attribution.report(session, "first_touch", since=SINCE, until=UNTIL)
    assert _revenue(_row(report, a)) == {"USD": D(0)} and _row(report, a).roi == D(0)
    usd = next(t for t in report.totals if t.currency == "USD")
    assert (usd.won_deals, usd.attributed_deals, usd.attributed_revenue) == (1, 0, D(0))


def test_the_period_selects_the_deals_by_their_win(session: Session, scene: Scene) -> None:
    july = attribution.report(session, "linear", since=date(2021, 7, 1), until=date(2021, 7, 31))
    assert _revenue(_row(july, scene.a)) == {"USD": D("1000.00")}  # the late deal, won 25 July
    assert _revenue(_row(july, scene.b)) == {"USD": D(0)}
    whole = attribution.report(session, "linear")
    assert _revenue(_row(whole, scene.a)) == {"USD": D("1600.00")}
    last_day = attribution.report(session, "linear", since=WON.date(), until=WON.date())
    assert _revenue(_row(last_day, scene.a)) == {"USD": D("600.00")}  # both ends are whole days, included


def test_a_touch_reached_through_lead_and_contact_counts_once(session: Session) -> None:
    a = _campaign(session, "Both ways A", "both-a", "0")
    b = _campaign(session, "Both ways B", "both-b", "0")
    lead = factories.lead(session, company_name="Both Co").id
    done = lead_service.convert_lead(session, lead, amount=D(300), now=_days(-9))
    assert done.deal is not None
    _touch(session, a, _days(-8), lead=lead, contact=done.contact.id)  # the lead's and the contact's at once
    _touch(session, b, _days(-7), contact=done.contact.id)
    deal_service.close_won(session, done.deal.id, now=WON)
    report = attribution.report(session, "linear", since=SINCE, until=UNTIL)
    assert _revenue(_row(report, a)) == {"USD": D("150.00")} and _revenue(_row(report, b)) == {"USD": D("150.00")}


def test_linear_cents_add_up_to_the_deal() -> None:
    assert attribution.split_linear(D("100.00"), {7: 1, 3: 1, 5: 1}) == {3: D("33.34"), 5: D("33.33"),
                                                                         7: D("33.33")}
    assert sum(attribution.split_linear(D("0.05"), {1: 2, 2: 1}).values()) == D("0.05")


def test_mistakes_name_their_field(session: Session) -> None:
    with pytest.raises(InvalidInput) as bad_model:
        attribution.report(session, "u_shaped")
    assert bad_model.value.field == "model"
    with pytest.raises(InvalidInput) as backwards:
        attribution.report(session, "linear", since=date(2021, 2, 1), until=date(2021, 1, 1))
    assert backwards.value.field == "until"
    assert attribution.period(None, date.max) == (None, None)  # the last representable day: no upper bound


# Touches written by lead capture --------------------------------------------------------------------------

def _touches(session: Session, lead_id: int) -> list[tuple[int, str | None]]:
    return [(t.campaign_id, t.medium) for t in campaign_repo.touches_of_lead(session, lead_id)]


def _lead(session: Session, email: str) -> Lead:
    return session.scalars(select(Lead).where(Lead.email == email)).one()


def test_the_web_form_writes_one_touch_and_a_repeat_submission_another(session: Session) -> None:
    campaign = _campaign(session, "Spring launch", "Spring-Launch", "0")
    client = client_for(app_for(session))
    form = {"email": "ana@form.test", "last_name": "Silva", "utm_campaign": "spring-LAUNCH", "utm_medium": "cpc"}
    assert client.post("/public/leads", json=form).status_code == 202
    lead = _lead(session, "ana@form.test")
    assert _touches(session, lead.id) == [(campaign, "cpc")] and lead.campaign_id == campaign
    assert client.post("/public/leads", json=form | {"utm_medium": "email"}).status_code == 202
    assert _touches(session, lead.id) == [(campaign, "cpc"), (campaign, "email")]  # the same lead, touched again


def test_an_unknown_or_missing_code_writes_no_touch_and_is_no_error(session: Session) -> None:
    _campaign(session, "Known", "known-code", "0")
    client = client_for(app_for(session))
    assert client.post("/public/leads", json={"email": "x@form.test", "last_name": "X",
                                              "utm_campaign": "nobody-knows"}).status_code == 202
    assert client.post("/public/leads", json={"email": "y@form.test", "last_name": "Y"}).status_code == 202
    for email in ("x@form.test", "y@form.test"):
        lead = _lead(session, email)
        assert _touches(session, lead.id) == [] and lead.campaign_id is None
    assert _lead(session, "x@form.test").utm_campaign == "nobody-knows"  # kept for a campaign entered later


def test_post_leads_writes_the_touch_in_the_same_transaction(session: Session) -> None:
    campaign = _campaign(session, "Partner push", "partner-q3", "0")
    rep = factories.user(session, role=Role.rep)
    client = client_for(app_for(session), auth_service.create_api_key(session, rep.id, "t")[1])
    response = client.post("/leads", json={"last_name": "Lee", "utm_campaign": "PARTNER-q3", "utm_medium": "ref"})
    assert response.status_code == 201, response.text
    assert response.json()["campaign_id"] == campaign
    assert _touches(session, response.json()["id"]) == [(campaign, "ref")]
    # a lead that fails validation writes neither the lead nor a touch
    before = session.scalar(select(func.count()).select_from(CampaignTouch))
    refused = client.post("/leads", json={"utm_campaign": "partner-q3"})
    assert refused.status_code == 422 and error_of(refused)["field"] == "lead"
    assert session.scalar(select(func.count()).select_from(CampaignTouch)) == before


def test_the_csv_import_links_known_codes(session: Session, tmp_path: Path) -> None:
    campaign = _campaign(session, "Trade fair", "fair-2021", "0")
    path = tmp_path / "leads.csv"
    path.write_text("last_name,utm_campaign,utm_medium,created_at\nKnown,FAIR-2021,event,2021-05-02\n"
                    "Unknown,other,event,2021-05-03\nNone,,,2021-05-04\n", encoding="utf-8")
    result = import_csv(session, "lead", path, {"last_name": "last_name", "utm_campaign": "utm_campaign",
                                                "utm_medium": "utm_medium", "created_at": "created_at"})
    assert result.imported == 3
    leads = {lead.last_name: lead for lead in session.scalars(select(Lead).where(Lead.id.in_(result.ids)))}
    assert leads["Known"].campaign_id == campaign and leads["Unknown"].campaign_id is None
    (touch,) = campaign_repo.touches_of_lead(session, leads["Known"].id)
    assert (touch.campaign_id, touch.medium, touch.touched_at.date()) == (campaign, "event", date(2021, 5, 2))
    assert not campaign_repo.touches_of_lead(session, leads["Unknown"].id)


# Campaign definitions -------------------------------------------------------------------------------------

def test_codes_and_names_are_unique_whatever_their_case(session: Session) -> None:
    _campaign(session, "Autumn", "autumn-21", "0")
    with pytest.raises(InvalidInput) as same_code:
        _campaign(session, "Autumn again", "AUTUMN-21", "0")
    assert same_code.value.field == "utm_campaign"
    with pytest.raises(InvalidInput) as same_name:
        _campaign(session, "autumn", None, "0")
    assert same_name.value.field == "name"
    with pytest.raises(InvalidInput) as backwards:
        campaign_service.create_campaign(session, name="Backwards", channel="ad", start_date=date(2021, 2, 1),
                                         end_date=date(2021, 1, 1))
    assert backwards.value.field == "end_date"


def test_an_update_writes_audit_and_event_only_for_real_changes(session: Session) -> None:
    campaign = _campaign(session, "Audited", "audited", "100")
    campaign_service.update_campaign(session, campaign, {"cost": D("100.00"), "name": "Audited"}, actor="user:1")
    campaign_service.update_campaign(session, campaign, {"cost": D("250")}, actor="user:1")
    audits = session.scalars(select(AuditLog).where(AuditLog.entity_type == "campaign",
                                                    AuditLog.entity_id == campaign).order_by(AuditLog.id)).all()
    assert [(a.action, a.before, a.after) for a in audits][1:] == [
        ("update", {"cost": "100.00"}, {"cost": "250.00"})]
    topics = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.aggregate_type == "campaign",
                                                             OutboxEvent.aggregate_id == campaign)).all()
    assert topics == ["campaign.created", "campaign.updated"]


# API ------------------------------------------------------------------------------------------------------

@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    out: dict[str, str] = {}
    for role in (Role.rep, Role.csm, Role.manager, Role.admin):
        user = factories.user(session, role=role)
        out[role.value] = auth_service.create_api_key(session, user.id, "t")[1]
    other = factories.user(session, role=Role.manager)
    out["other_manager"] = auth_service.create_api_key(session, other.id, "t")[1]
    return out


def test_the_api_manages_campaigns_and_reports_attribution(session: Session, scene: Scene,
                                                           keys: dict[str, str]) -> None:
    app = app_for(session)
    manager, rep = client_for(app, keys["manager"]), client_for(app, keys["rep"])
    created = manager.post("/campaigns", json={"name": "Summer webinar", "channel": "webinar",
                                               "utm_campaign": "summer-web", "cost": "120.50", "currency": "eur"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["cost"], body["currency"], body["utm_campaign"]) == ("120.50", "EUR", "summer-web")
    campaign_id = body["id"]
    assert rep.get(f"/campaigns/{campaign_id}").json()["name"] == "Summer webinar"  # everyone reads them
    assert campaign_id in [c["id"] for c in rep.get("/campaigns", params={"limit": 500}).json()]
    detail = manager.get(f"/campaigns/{scene.a}").json()
    assert (detail["touches"], detail["leads"]) == (3, 2)  # all time: two on the converted lead, one on the late

    patched = manager.patch(f"/campaigns/{campaign_id}", json={"cost": "200", "end_date": "2021-08-01"})
    assert patched.status_code == 200 and patched.json()["cost"] == "200.00"
    foreign = client_for(app, keys["other_manager"]).patch(f"/campaigns/{campaign_id}", json={"cost": "1"})
    assert foreign.status_code == 403 and error_of(foreign)["code"] == "forbidden"
    assert manager.patch(f"/campaigns/{campaign_id}", json={"owner_id": 1}).status_code == 403  # admins hand over
    admin = client_for(app, keys["admin"])
    assert admin.patch(f"/campaigns/{campaign_id}", json={"cost": "1"}).status_code == 200

    report = manager.get("/campaigns/attribution", params={"model": "linear", "since": "2021-06-01",
                                                           "until": "2021-06-30"})
    assert report.status_code == 200, report.text
    rows = {c["campaign_id"]: c for c in report.json()["campaigns"]}
    assert rows[scene.a]["revenue"] == [{"currency": "USD", "won_deals": 1, "attributed_revenue": "600.00"}]
    assert rows[scene.a]["roi"] == "2.0000" and rows[scene.b]["roi"] is None
    assert [r["currency"] for r in rows[scene.b]["revenue"]] == ["USD", "EUR"]
    first = admin.get("/campaigns/attribution", params={"model": "first_touch", "since": "2021-06-01",
                                                        "until": "2021-06-30"}).json()
    assert {c["campaign_id"]: c for c in first["campaigns"]}[scene.a]["revenue"][0]["attributed_revenue"] == "900.00"


def test_the_api_refuses_reps_and_csms_and_names_bad_fields(session: Session, keys: dict[str, str]) -> None:
    app = app_for(session)
    for role in ("rep", "csm"):
        client = client_for(app, keys[role])
        for response in (client.get("/campaigns/attribution"),
                         client.post("/campaigns", json={"name": f"by {role}", "channel": "ad"})):
            assert response.status_code == 403 and error_of(response)["code"] == "forbidden", response.text
    manager = client_for(app, keys["manager"])
    bad = manager.get("/campaigns/attribution", params={"model": "u_shaped"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "model"
    backwards = manager.get("/campaigns/attribution", params={"since": "2021-02-01", "until": "2021-01-01"})
    assert backwards.status_code == 422 and error_of(backwards)["field"] == "until"
    assert manager.post("/campaigns", json={"name": "  ", "channel": "ad"}).json()["error"]["field"] == "name"
    unknown = manager.post("/campaigns", json={"name": "x", "channel": "billboard"})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "channel"
    assert manager.get("/campaigns/999999999").status_code == 404
    made = manager.post("/campaigns", json={"name": "Dup", "channel": "ad", "utm_campaign": "dup"}).json()
    clash = manager.post("/campaigns", json={"name": "Dup 2", "channel": "ad", "utm_campaign": "DUP"})
    assert clash.status_code == 422 and error_of(clash)["field"] == "utm_campaign"
    nulled = manager.patch(f"/campaigns/{made['id']}", json={"name": None})
    assert nulled.status_code == 422 and error_of(nulled)["field"] == "name"
    assert session.scalar(select(func.count()).select_from(Campaign).where(Campaign.name.like("by %"))) == 0


# CLI ------------------------------------------------------------------------------------------------------

def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    return run_cli(monkeypatch, *args)


def _cells(out: str, first: str) -> list[str]:
    """The cells of the table row whose first (or second, after an id) cell is `first`, from that cell on."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")][1:-1]
        if first in cells[:2]:
            return cells[cells.index(first):]
    raise AssertionError(f"no row {first!r} in:\n{out}")


def test_the_cli_creates_lists_and_prints_roi(scratch_db: URL, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    from api.cli import main
    from core.db.engine import session_scope

    monkeypatch.setattr(main.console, "width", 220)
    code, out = _cli(monkeypatch, "campaigns", "create", "--name", "Launch ads", "--channel", "ad", "--utm",
                     "launch", "--cost", "300", "--start", "2021-05-01")
    assert code == 0 and "created: Launch ads (ad, utm launch, cost 300.00 USD)" in out, out
    code, out = _cli(monkeypatch, "campaigns", "create", "--name", "Free webinar", "--channel", "webinar",
                     "--utm", "web")
    assert code == 0, out
    with session_scope() as session:
        ids = {utm: id_ for utm, id_ in session.execute(select(Campaign.utm_campaign, Campaign.id))}
        lead = lead_service.create_lead(session, last_name="Cli", utm_campaign="LAUNCH", utm_medium="cpc")
        _touch(session, ids["web"], _days(-5), lead=lead.id)
        _touch(session, ids["launch"], _days(-4), lead=lead.id)
        for touch in session.scalars(select(CampaignTouch).where(CampaignTouch.lead_id == lead.id,
                                                                 CampaignTouch.medium == "cpc")):
            touch.touched_at = _days(-6)  # captured before the other two
        done = lead_service.convert_lead(session, lead.id, amount=D(900), now=_days(-3))
        assert done.deal is not None
        deal_service.close_won(session, done.deal.id, now=WON)

    code, out = _cli(monkeypatch, "campaigns", "list")
    assert code == 0, out
    listed = _cells(out, "Launch ads")
    assert "300.00 USD" in listed and listed[-2:] == ["2", "1"], listed  # touches, leads

    code, out = _cli(monkeypatch, "campaigns", "roi", "--since", "2021-06-01", "--until", "2021-06-30")
    assert code == 0, out
    # campaign, touches, leads, currency, won deals, revenue, cost, ROI
    assert _cells(out, "Launch ads") == ["Launch ads", "2", "1", "USD", "1", "600.00", "300.00", "2.00"]
    assert _cells(out, "Free webinar") == ["Free webinar", "1", "1", "USD", "1", "300.00", "0.00", "—"]
    assert _cells(out, "USD") == ["USD", "1", "900.00", "1", "900.00", "300.00", "3.00"]  # the totals
    code, out = _cli(monkeypatch, "campaigns", "roi", "--model", "first_touch", "--since", "2021-06-15",
                     "--until", "2021-06-15")
    assert code == 0 and _cells(out, "Launch ads")[-3:] == ["900.00", "300.00", "3.00"], out

    for args, message in ((["roi", "--model", "u_shaped"], "error: model: 'u_shaped' is not one of"),
                          (["roi", "--since", "June"], "error: --since: 'June' is not a date"),
                          (["create", "--name", "Launch ads", "--channel", "ad"], "error: name: a campaign named"),
                          (["create", "--name", "Z", "--channel", "tv"], "error: channel: 'tv' is not one of")):
        code, out = _cli(monkeypatch, "campaigns", *args)
        assert code == 2 and message in out, (args, out)

    # the Monday beat job writes the week that just ended (14-20 June) as JSON, every model
    written = write_weekly_report(datetime(2021, 6, 21, 6, tzinfo=UTC), directory=tmp_path)
    assert written == {"week": "2021-W24", "path": str(tmp_path / "2021-W24.json"), "campaigns": 2}
    saved = json.loads((tmp_path / "2021-W24.json").read_text(encoding="utf-8"))
    assert (saved["since"], saved["until"]) == ("2021-06-14", "2021-06-20")
    launch_of = {m: next(c for c in saved["models"][m]["campaigns"] if c["name"] == "Launch ads")
                 for m in ("first_touch", "last_touch", "linear")}
    assert {m: c["revenue"][0]["attributed_revenue"] for m, c in launch_of.items()} == {
        "first_touch": "900.00", "last_touch": "900.00", "linear": "600.00"}
    assert launch_of["linear"]["roi"] == "2.0000"
    assert not list(tmp_path.glob("*.partial"))


def test_the_weekly_report_is_scheduled_on_mondays_for_the_week_before() -> None:
    entry = beat_schedule(Settings(), [])["campaign_report"]
    assert entry["task"] == CAMPAIGN_REPORT and entry["schedule"] == crontab(minute="0", hour="6", day_of_week="1")
    assert "campaign_report" not in beat_schedule(Settings(agent_schedules={"campaign_report": "off"}), [])
    assert previous_week(datetime(2021, 6, 21, 6, tzinfo=UTC)) == (date(2021, 6, 14), date(2021, 6, 20))
    assert previous_week(datetime(2021, 6, 20, 23, tzinfo=UTC)) == (date(2021, 6, 7), date(2021, 6, 13))
