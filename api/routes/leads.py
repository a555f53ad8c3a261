"""Leads for reps and managers (own / team), lead conversion, and the public web-form capture endpoint."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep, SettingsDep, require_roles
from api.errors import RateLimited
from api.routes.accounts import check_assignable, check_ref
from api.routes.common import (
    Email,
    LabelsOut,
    LabelsPatch,
    Limit,
    LongText,
    Money,
    Name,
    Offset,
    Out,
    PathId,
    Phone,
    RefId,
    Short,
    Text200,
    Text255,
)
from core.errors import InvalidInput
from core.models import Account, Contact, Lead
from core.models.enums import ActivityKind, LeadSource, LeadStatus, Role
from core.repositories import lead_capture, scoping
from core.services import campaigns as campaign_service
from core.services import engagement
from core.services import leads as lead_service
from core.services.updates import update_fields

router = APIRouter(tags=["leads"], dependencies=[Depends(require_roles(Role.rep, Role.manager))])
public = APIRouter(tags=["public"])


class LeadIn(BaseModel):
    first_name: Short | None = None
    last_name: Short | None = None
    email: Email | None = None
    phone: Phone | None = None
    company_name: Text255 | None = None
    title: Text200 | None = None
    industry: Short | None = None
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    country: Short | None = None
    city: Short | None = None
    source: LeadSource = LeadSource.manual
    owner_id: RefId | None = None
    bant_need: LongText | None = None
    utm_source: Short | None = None
    utm_medium: Short | None = Field(default=None, description="Stored as the medium of the campaign touch.")
    utm_campaign: Short | None = Field(default=None, description=(
        "A campaign's code (case-insensitive): links the lead to that campaign and records a touch; an unknown "
        "code is kept on the lead and records nothing."))
    utm_term: Short | None = None
    utm_content: Short | None = None


class LeadPatch(LabelsPatch):
    first_name: Short | None = None
    last_name: Short | None = None
    email: Email | None = None
    phone: Phone | None = None
    company_name: Text255 | None = None
    title: Text200 | None = None
    industry: Short | None = None
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    owner_id: RefId | None = None


class LeadStatusIn(BaseModel):
    status: LeadStatus
    reason: Text200 | None = None


class LeadOut(Out, LabelsOut):
    id: int
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    company_name: str | None
    title: str | None
    industry: str | None
    country: str | None
    source: LeadSource
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    campaign_id: int | None = Field(description="The campaign its utm_campaign named when it was captured.")
    status: LeadStatus
    owner_id: int | None
    score: int | None
    score_factors: dict[str, Any]
    converted_deal_id: int | None
    created_at: datetime


class ConvertIn(BaseModel):
    account_id: RefId | None = None
    create_deal: bool = True
    deal_name: Name | None = None
    amount: Money | None = None
    expected_close_date: date | None = None


class ConvertOut(BaseModel):
    lead_id: int
    account_id: int
    contact_id: int
    deal_id: int | None


class DuplicateOut(BaseModel):
    kind: str
    id: int
    reason: str
    similarity: float


@router.get("/leads", response_model=list[LeadOut])
def list_leads(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
               status: LeadStatus | None = None, by_score: bool = False) -> Any:
    """Newest first, or by score (highest first, unscored last) for the rep's ranked list."""
    filters = [Lead.status == status] if status else []
    order = Lead.score.desc().nulls_last() if by_score else None
    return scoping.list_visible(session, user, Lead, filters=filters, order_by=order, limit=limit, offset=offset)


@router.post("/leads", response_model=LeadOut, status_code=201)
def create_lead(body: LeadIn, session: SessionDep, user: CurrentUser) -> Any:
    owner = body.owner_id if body.owner_id is not None else (None if user.is_admin else user.user_id)
    check_assignable(session, user, "owner_id", owner)
    lead = lead_service.create_lead(session, actor=user.actor, **(body.model_dump() | {"owner_id": owner}))
    session.refresh(lead)
    return lead


@router.get("/leads/{lead_id}", response_model=LeadOut)
def get_lead(lead_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Lead, lead_id)


@router.get("/leads/{lead_id}/duplicates", response_model=list[DuplicateOut])
def lead_duplicates(lead_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """Other leads and contacts with this lead's email or a similar name (only those the caller may see)."""
    lead = scoping.get_visible(session, user, Lead, lead_id)
    found = lead_capture.find_duplicates(session, email=lead.email, first_name=lead.first_name,
                                         last_name=lead.last_name, company_name=lead.company_name)
    models = {"lead": Lead, "contact": Contact}
    return [d.__dict__ for d in found if not (d.kind == "lead" and d.id == lead.id)
            and scoping.is_visible(session, user, models[d.kind], d.id)]


@router.patch("/leads/{lead_id}", response_model=LeadOut)
def update_lead(lead_id: PathId, body: LeadPatch, session: SessionDep, user: CurrentUser) -> Any:
    lead = scoping.get_visible(session, user, Lead, lead_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    check_assignable(session, user, "owner_id", changes.get("owner_id"))
    update_fields(session, lead, changes, entity_type="lead", actor=user.actor, actor_id=user.user_id)
    session.refresh(lead)
    return lead


@router.post("/leads/{lead_id}/status", response_model=LeadOut)
def change_lead_status(lead_id: PathId, body: LeadStatusIn, session: SessionDep, user: CurrentUser) -> Any:
    scoping.get_visible(session, user, Lead, lead_id, lock=True)
    return lead_service.change_status(session, lead_id, body.status, reason=body.reason, actor=user.actor)


@router.post("/leads/{lead_id}/convert", response_model=ConvertOut)
def convert_lead(lead_id: PathId, body: ConvertIn, session: SessionDep, user: CurrentUser) -> Any:
    scoping.get_visible(session, user, Lead, lead_id, lock=True)
    check_ref(session, user, Account, body.account_id)
    done = lead_service.convert_lead(session, lead_id, account_id=body.account_id, create_deal=body.create_deal,
                                     deal_name=body.deal_name, amount=body.amount,
                                     expected_close_date=body.expected_close_date, actor=user.actor)
    return ConvertOut(lead_id=done.lead.id, account_id=done.account.id, contact_id=done.contact.id,
                      deal_id=done.deal.id if done.deal else None)


@router.delete("/leads/{lead_id}", status_code=204)
def delete_lead(lead_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    session.delete(scoping.get_visible(session, user, Lead, lead_id))
    session.flush()
    return Response(status_code=204)


class WebFormLead(BaseModel):
    """What a web form posts. Unknown fields are ignored; at least an email or a name is needed."""

    email: Email | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    phone: Phone | None = None
    company_name: Text255 | None = None
    title: Text200 | None = None
    country: Short | None = None
    message: LongText | None = None
    form: Short | None = Field(default=None, description="Which form (stored as source_detail).")
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_term: Short | None = None
    utm_content: Short | None = None


class CaptureOut(BaseModel):
    status: str = Field(description="Always `received`: the answer never tells whether the person is known.")


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@public.post("/public/leads", response_model=CaptureOut, status_code=202,
             responses={429: {"description": "too many submissions from this IP"}})
def capture_lead(body: WebFormLead, request: Request, session: SessionDep, settings: SettingsDep) -> CaptureOut:
    """Web-form capture (no auth; rate-limited per IP). Same email as an existing lead: the submission is logged
    on that lead, no new lead (a known utm_campaign adds a touch to it). Same email as a contact, or a similar
    name: a new lead flagged with custom_fields.possible_duplicates for the rep to review."""
    wait = request.app.state.lead_capture_limiter.take(_client_ip(request))
    if wait > 0:
        request.app.state.metrics.rate_limited.inc()
        raise RateLimited(wait)
    if not (body.email or body.last_name or body.company_name or body.phone):
        raise InvalidInput("email", "give an email, a phone, a last name or a company")
    dups = lead_capture.find_duplicates(session, email=body.email, first_name=body.first_name,
                                        last_name=body.last_name, company_name=body.company_name)
    same_lead = next((d for d in dups if d.kind == "lead" and d.reason == "email"), None)
    subject = f"Web form{': ' + body.form if body.form else ''}"
    if same_lead is not None:
        engagement.log_activity(session, kind=ActivityKind.note, subject=subject, body=body.message,
                                lead_id=same_lead.id)
        campaign_service.record_touch(session, lead_id=same_lead.id, utm_campaign=body.utm_campaign,
                                      utm_medium=body.utm_medium)
        return CaptureOut(status="received")
    fields = body.model_dump(exclude={"message", "form"})
    custom: dict[str, Any] = {}
    if dups:
        custom["possible_duplicates"] = [d.__dict__ for d in dups]
    lead = lead_service.create_lead(session, actor="web_form", source=LeadSource.web_form,
                                    source_detail=body.form, custom_fields=custom, **fields)
    if body.message:
        engagement.log_activity(session, kind=ActivityKind.note, subject=subject, body=body.message, lead_id=lead.id)
    return CaptureOut(status="received")


