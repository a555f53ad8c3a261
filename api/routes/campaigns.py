"""Campaigns: spend and the `utm_campaign` code that links captured leads, and the attribution / ROI report.

Who may do what (also in api/README.md): campaigns are company-wide marketing definitions, so every signed-in
role lists and reads them (a rep sees which campaign a lead came from). Managers and admins create them; a campaign
is changed by the manager who owns it or by an admin, and only an admin hands it to another owner. The
attribution report is for managers and admins (reps and CSMs 403) and covers the whole company: it holds only
per-campaign sums and counts, never a deal, lead or account, and a campaign's spend is company money that a
team-limited revenue figure would misstate as ROI. These rules live in the services
(`core.services.campaigns.ensure_may_create|ensure_may_change`, `core.services.attribution.ensure_may_report`) and
the campaigns web page applies the same functions.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.routes.common import Currency, Limit, Money, Offset, Out, PathId, RefId, Short, Text200
from core.models.enums import AttributionModel, CampaignChannel
from core.repositories import campaigns as campaign_repo
from core.repositories.scoping import Principal
from core.services import attribution as attribution_service
from core.services import campaigns as svc

router = APIRouter(tags=["campaigns"])


def _creator(user: CurrentUser) -> Principal:
    """The rule lives in the service (the web page applies it too); as a dependency it answers 403 before a body
    is validated."""
    svc.ensure_may_create(user)
    return user


def _reader_of_report(user: CurrentUser) -> Principal:
    attribution_service.ensure_may_report(user)
    return user


Creator = Annotated[Principal, Depends(_creator)]
ReportReader = Annotated[Principal, Depends(_reader_of_report)]


class CampaignIn(BaseModel):
    name: Text200 = Field(description="Unique name (case-insensitive), not empty.")
    channel: CampaignChannel = Field(description="email, event, ad, social, webinar, content or partner.")
    utm_campaign: Short | None = Field(default=None, description=(
        "The code forms and links carry as utm_campaign (matched case-insensitively, unique); leads arriving "
        "with it are linked to this campaign and get a touch."))
    start_date: date | None = None
    end_date: date | None = Field(default=None, description="On or after start_date.")
    cost: Money = Field(default=Decimal(0), description="The whole spend, in `currency`; ROI divides by it.")
    expected_revenue: Money = Field(default=Decimal(0), description="What the campaign was planned to bring.")
    currency: Currency = Field(default="USD", description="Currency of cost and expected revenue.")


class CampaignPatch(BaseModel):
    name: Text200 | None = Field(default=None, description="New unique name.")
    channel: CampaignChannel | None = None
    utm_campaign: Short | None = Field(default=None, description="New code; null removes it (no more touches).")
    start_date: date | None = None
    end_date: date | None = None
    cost: Money | None = None
    expected_revenue: Money | None = None
    currency: Currency | None = None
    owner_id: RefId | None = Field(default=None, description="Hand the campaign to another user (admins only).")


class CampaignOut(Out):
    id: int
    name: str
    channel: CampaignChannel
    utm_campaign: str | None
    start_date: date | None
    end_date: date | None
    cost: Decimal
    expected_revenue: Decimal
    currency: str
    owner_id: int | None = Field(description="The manager who answers for it (null: created from the CLI).")
    created_at: datetime
    updated_at: datetime


class CampaignDetail(CampaignOut):
    touches: int = Field(description="All touches recorded for the campaign.")
    leads: int = Field(description="Distinct leads those touches reached.")


class RevenueOut(BaseModel):
    currency: str
    won_deals: int = Field(description="Won deals the model credits to the campaign, in this currency.")
    attributed_revenue: Decimal


class CampaignResultOut(BaseModel):
    campaign_id: int
    name: str
    utm_campaign: str | None
    channel: str
    touches: int = Field(description="Touches made in the period.")
    leads: int = Field(description="Distinct leads touched in the period.")
    cost: Decimal = Field(description="The campaign's whole spend (not pro-rated), in `currency`.")
    currency: str
    revenue: list[RevenueOut] = Field(description="Attributed revenue per deal currency, the campaign's first; "
                                                  "amounts in different currencies are never added.")
    roi: Decimal | None = Field(description="Revenue in the campaign's currency / cost; null when the cost is 0.")


class CurrencyTotalOut(BaseModel):
    currency: str
    won_deals: int = Field(description="Every deal won in the period in this currency.")
    won_revenue: Decimal
    attributed_deals: int = Field(description="Of those, the deals with at least one counted touch.")
    attributed_revenue: Decimal
    cost: Decimal = Field(description="Spend of the campaigns costed in this currency.")
    roi: Decimal | None = Field(description="attributed_revenue / cost; null when the cost is 0.")


class AttributionOut(BaseModel):
    model: AttributionModel
    since: date | None
    until: date | None
    touches: int = Field(description="Touches made in the period, all campaigns.")
    leads: int = Field(description="Distinct leads touched in the period.")
    campaigns: list[CampaignResultOut]
    totals: list[CurrencyTotalOut]


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0) -> Any:
    """Every campaign, oldest first (shared definitions: every role reads them)."""
    return svc.list_campaigns(session, limit=limit, offset=offset)


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
def create_campaign(body: CampaignIn, session: SessionDep, user: Creator) -> Any:
    campaign = svc.create_campaign(session, **body.model_dump(), owner_id=user.user_id, actor=user.actor,
                                   actor_id=user.user_id)
    session.refresh(campaign)
    return campaign


@router.get("/campaigns/attribution", response_model=AttributionOut)
def campaign_attribution(
        session: SessionDep, user: ReportReader,
        model: Annotated[AttributionModel, Query(description="first_touch, last_touch or linear.")]
        = AttributionModel.linear,
        since: Annotated[date | None, Query(description="First day (UTC) a deal may have been won.")] = None,
        until: Annotated[date | None, Query(description="Last day (UTC), included.")] = None) -> Any:
    """Revenue of the deals won in the period attributed to campaigns through the touches of the lead that became
    the deal and of its primary contact, made before the win; per campaign and currency, with cost and ROI."""
    return attribution_service.report(session, model, since=since, until=until)


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetail)
def get_campaign(campaign_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    campaign = CampaignOut.model_validate(svc.get_campaign(session, campaign_id))
    touches, leads = campaign_repo.touch_counts(session, campaign_id)
    return CampaignDetail(**campaign.model_dump(), touches=touches, leads=leads)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
def update_campaign(campaign_id: PathId, body: CampaignPatch, session: SessionDep, user: CurrentUser) -> Any:
    changes = body.model_dump(exclude_unset=True)
    svc.ensure_may_change(user, svc.get_campaign(session, campaign_id), changes)
    campaign = svc.update_campaign(session, campaign_id, changes, actor=user.actor, actor_id=user.user_id)
    session.refresh(campaign)
    return campaign
