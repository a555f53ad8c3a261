"""Campaigns for the people who run and judge them: every campaign with its spend and reach, the attribution
report (revenue of won deals per campaign and currency, with ROI) for managers and admins, and forms to create a
campaign and change its cost and dates.

The same services and permission checks as api/routes/campaigns.py: every role reads the definitions; the report
is `core.services.attribution.report` behind `attribution.ensure_may_report` (managers and admins, company-wide
sums); creating is `campaigns.ensure_may_create`, changing `campaigns.ensure_may_change` (the owning manager or an
admin). The page shows a form only to those the check accepts, and a forged post answers 403. Values are passed
to the service as typed, so a refused one comes back with the service's message naming the field, and nothing is
written.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.routes.common import PathId
from core.errors import CrmError, InvalidInput
from core.models import Campaign
from core.models.enums import AttributionModel, CampaignChannel
from core.repositories import campaigns as campaign_repo
from core.repositories import web_views
from core.repositories.scoping import Principal
from core.services import attribution as attribution_service
from core.services import campaigns as svc
from web.common import FormDep, form_text, message_of, page_user, render, status_of

router = APIRouter(prefix="/app", include_in_schema=False)
SignedIn = Annotated[Principal, Depends(page_user())]
PAGE_SIZE = 100
CREATE_FIELDS = ("name", "channel", "utm_campaign", "start_date", "end_date", "cost", "expected_revenue", "currency")
EDIT_FIELDS = ("cost", "start_date", "end_date")
OPTIONAL = frozenset({"utm_campaign", "start_date", "end_date", "cost", "expected_revenue"})
MAX_LEN = {"name": 200, "utm_campaign": 120, "channel": 20, "currency": 3}
ShortQuery = Annotated[str, Query(max_length=40)]


def _typed(form: FormData, fields: tuple[str, ...], *, optional: frozenset[str]) -> dict[str, Any]:
    """The fields as typed (the service parses and checks them); an empty optional field means "none"."""
    out: dict[str, Any] = {}
    for name in fields:
        text = form_text(form, name, required=name not in optional, max_len=MAX_LEN.get(name, 40))
        if text or name in ("start_date", "end_date", "utm_campaign"):
            out[name] = text or None
    return out


def _day(field: str, raw: str) -> date | None:
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(field, "must be a date as YYYY-MM-DD") from None


def _report(session: Session, model: str, since: str, until: str) -> dict[str, Any]:
    """The attribution block: the report, or the message naming the refused filter (the list still shows)."""
    try:
        report = attribution_service.report(session, model or AttributionModel.linear,
                                            since=_day("since", since), until=_day("until", until))
    except InvalidInput as exc:
        return {"report": None, "report_error": message_of(exc)}
    return {"report": report, "report_error": None}


def _list_context(session: Session, user: Principal, *, page: int, model: str = "", since: str = "",
                  until: str = "") -> dict[str, Any]:
    rows = svc.list_campaigns(session, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, newest_first=True)
    campaigns, more = list(rows[:PAGE_SIZE]), len(rows) > PAGE_SIZE
    ctx: dict[str, Any] = {
        "campaigns": campaigns, "page": page, "more": more,
        "counts": campaign_repo.touch_counts_of(session, [c.id for c in campaigns]),
        "may_create": svc.may_create(user), "may_report": attribution_service.may_report(user),
        "channels": [c.value for c in CampaignChannel], "models": [m.value for m in AttributionModel],
        "filters": {"model": model or AttributionModel.linear.value, "since": since, "until": until},
        "values": {"currency": "USD", "channel": CampaignChannel.ad.value}, "error": None,
        "report": None, "report_error": None}
    if ctx["may_report"]:
        ctx.update(_report(session, model, since, until))
    return ctx


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns(request: Request, session: SessionDep, user: SignedIn,
              page: Annotated[int, Query(ge=1, le=10_000)] = 1, model: ShortQuery = "",
              since: ShortQuery = "", until: ShortQuery = "") -> Response:
    """Every campaign, newest first; managers and admins also get the attribution report for the chosen model
    and period (deals won between `since` and `until`, both included)."""
    ctx = _list_context(session, user, page=page, model=model, since=since, until=until)
    return render(request, "campaigns.html", ctx, status_code=422 if ctx["report_error"] else 200)


@router.post("/campaigns", response_class=HTMLResponse)
def create_campaign(request: Request, form: FormDep, session: SessionDep, user: SignedIn) -> Response:
    """As POST /campaigns: the creator owns the campaign; `campaign.created` and an audit row are written."""
    svc.ensure_may_create(user)
    try:
        fields = _typed(form, CREATE_FIELDS, optional=OPTIONAL)
        campaign = svc.create_campaign(session, **fields, owner_id=user.user_id, actor=user.actor,
                                       actor_id=user.user_id)
    except CrmError as exc:
        session.rollback()
        ctx = _list_context(session, user, page=1)
        ctx.update(error=message_of(exc), values={k: v for k, v in form.multi_items()
                                                  if isinstance(v, str) and k != "csrf_token"})
        return render(request, "campaigns.html", ctx, status_code=status_of(exc))
    return RedirectResponse(f"/app/campaigns/{campaign.id}?msg={quote_plus(f'Campaign {campaign.name} created')}",
                            status_code=303)


def _detail_context(session: Session, user: Principal, campaign: Campaign) -> dict[str, Any]:
    touches, leads = campaign_repo.touch_counts(session, campaign.id)
    return {"campaign": campaign, "touches": touches, "leads": leads, "may_change": svc.may_change(user, campaign),
            "owner": web_views.user_names(session, [campaign.owner_id]).get(campaign.owner_id or 0),
            "may_report": attribution_service.may_report(user), "error": None, "values": {}}


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(campaign_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    """One campaign (shared: every role reads it) with the edit form for its owner and admins."""
    return render(request, "campaign.html", _detail_context(session, user, svc.get_campaign(session, campaign_id)))


@router.post("/campaigns/{campaign_id}", response_class=HTMLResponse)
def edit_campaign(campaign_id: PathId, request: Request, form: FormDep, session: SessionDep,
                  user: SignedIn) -> Response:
    """As PATCH /campaigns/{id} with cost and dates: only real changes are written (`campaign.updated`, audit)."""
    campaign = svc.get_campaign(session, campaign_id)
    svc.ensure_may_change(user, campaign)
    before = {name: getattr(campaign, name) for name in EDIT_FIELDS}
    try:
        changes = _typed(form, EDIT_FIELDS, optional=frozenset({"start_date", "end_date"}))
        campaign = svc.update_campaign(session, campaign_id, changes, actor=user.actor, actor_id=user.user_id)
        changed = before != {name: getattr(campaign, name) for name in EDIT_FIELDS}
    except CrmError as exc:
        session.rollback()
        ctx = _detail_context(session, user, svc.get_campaign(session, campaign_id))
        ctx.update(error=message_of(exc), values={k: v for k, v in form.multi_items()
                                                  if isinstance(v, str) and k != "csrf_token"})
        return render(request, "campaign.html", ctx, status_code=status_of(exc))
    message = "Cost and dates saved" if changed else "Nothing changed"
    return RedirectResponse(f"/app/campaigns/{campaign_id}?msg={quote_plus(message)}", status_code=303)
