"""Deals (own / team; a CSM reads those of assigned accounts), stage moves, and quotes (pipelines: pipelines.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.routes.accounts import check_assignable, check_ref
from api.routes.common import (
    Currency,
    LabelsOut,
    LabelsPatch,
    Limit,
    LongText,
    Money,
    Name,
    Offset,
    Out,
    PathId,
    RefId,
    Short,
    Text200,
    Text255,
)
from core.errors import InvalidInput
from core.models import Account, Contact, Deal, Pipeline, Quote
from core.models.enums import DealStatus, QuoteStatus, Role
from core.repositories import sales as sales_repo
from core.repositories import scoping
from core.repositories.scoping import Principal
from core.services import deals as deal_service
from core.services import quotes as quote_service
from core.services.auth import Forbidden
from core.services.updates import update_fields

router = APIRouter(tags=["deals"])


def _sellers_only(user: Principal) -> None:
    """CSMs may read the deals of their accounts but not change them."""
    if user.role is Role.csm:
        raise Forbidden("role csm may read but not change deals and quotes")


class DealIn(BaseModel):
    name: Name
    amount: Money = Decimal(0)
    currency: Currency = "USD"
    account_id: RefId | None = None
    primary_contact_id: RefId | None = None
    owner_id: RefId | None = None
    expected_close_date: date | None = None
    pipeline_id: RefId | None = None
    stage_id: RefId | None = None


class DealPatch(LabelsPatch):
    name: Name | None = None
    amount: Money | None = None
    expected_close_date: date | None = None
    owner_id: RefId | None = None
    primary_contact_id: RefId | None = None


class StageMoveIn(BaseModel):
    stage_id: RefId
    lost_reason: Text200 | None = None
    competitor: Short | None = None


class DealOut(Out, LabelsOut):
    id: int
    name: str
    account_id: int | None
    primary_contact_id: int | None
    pipeline_id: int
    stage_id: int
    stage_entered_at: datetime
    amount: Decimal
    currency: str
    expected_close_date: date | None
    owner_id: int | None
    status: DealStatus
    lost_reason: str | None
    closed_at: datetime | None
    created_at: datetime


class QuoteLineIn(BaseModel):
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3, allow_inf_nan=False)
    product_id: RefId | None = None
    description: Text255 | None = None
    unit_price: Money | None = None
    discount_pct: Decimal = Field(default=Decimal(0), ge=0, le=100, max_digits=5, decimal_places=2,
                                  allow_inf_nan=False)


class QuoteIn(BaseModel):
    account_id: RefId
    deal_id: RefId | None = None
    contact_id: RefId | None = None
    currency: Currency | None = None
    valid_until: date | None = None
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1, max_digits=5, decimal_places=4, allow_inf_nan=False)
    terms: LongText | None = None
    lines: list[QuoteLineIn] = Field(min_length=1, max_length=200)


class QuoteLineOut(Out):
    position: int
    product_id: int | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal
    line_total: Decimal


class QuoteOut(Out):
    id: int
    number: str
    deal_id: int | None
    account_id: int
    contact_id: int | None
    currency: str
    status: QuoteStatus
    valid_until: date | None
    sent_at: datetime | None
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    created_at: datetime


class QuoteDetail(QuoteOut):
    lines: list[QuoteLineOut] = []
    responded_at: datetime | None = Field(default=None, description="When the customer accepted or rejected it.")
    order_id: int | None = Field(default=None, description="The sales order made from this quote, once accepted.")


@router.get("/deals", response_model=list[DealOut])
def list_deals(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
               pipeline_id: RefId | None = None, status: DealStatus | None = None,
               account_id: RefId | None = None) -> Any:
    filters = [c for c in (Deal.pipeline_id == pipeline_id if pipeline_id else None,
                           Deal.status == status if status else None,
                           Deal.account_id == account_id if account_id else None) if c is not None]
    return scoping.list_visible(session, user, Deal, filters=filters, limit=limit, offset=offset)


@router.post("/deals", response_model=DealOut, status_code=201)
def create_deal(body: DealIn, session: SessionDep, user: CurrentUser) -> Any:
    _sellers_only(user)
    check_ref(session, user, Account, body.account_id)
    check_ref(session, user, Contact, body.primary_contact_id)
    owner = body.owner_id if body.owner_id is not None else (None if user.is_admin else user.user_id)
    check_assignable(session, user, "owner_id", owner)
    if body.pipeline_id is not None and session.get(Pipeline, body.pipeline_id) is None:
        raise InvalidInput("pipeline_id", f"pipeline {body.pipeline_id} does not exist")
    deal = deal_service.create_deal(session, **(body.model_dump() | {"owner_id": owner}), actor=user.actor)
    session.refresh(deal)
    return deal


@router.get("/deals/{deal_id}", response_model=DealOut)
def get_deal(deal_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Deal, deal_id)


@router.patch("/deals/{deal_id}", response_model=DealOut)
def update_deal(deal_id: PathId, body: DealPatch, session: SessionDep, user: CurrentUser) -> Any:
    deal = scoping.get_visible(session, user, Deal, deal_id, lock=True)
    _sellers_only(user)
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "amount"):
        if key in changes and changes[key] is None:
            raise InvalidInput(key, "must not be null")
    check_assignable(session, user, "owner_id", changes.get("owner_id"))
    check_ref(session, user, Contact, changes.get("primary_contact_id"))
    update_fields(session, deal, changes, entity_type="deal", actor=user.actor, actor_id=user.user_id)
    session.refresh(deal)
    return deal


@router.post("/deals/{deal_id}/stage", response_model=DealOut)
def move_deal_stage(deal_id: PathId, body: StageMoveIn, session: SessionDep, user: CurrentUser) -> Any:
    """Move to another stage of the deal's pipeline (the Kanban drag); won/lost stages close the deal."""
    scoping.get_visible(session, user, Deal, deal_id, lock=True)
    _sellers_only(user)
    deal = deal_service.move_stage(session, deal_id, body.stage_id, lost_reason=body.lost_reason,
                                   competitor=body.competitor, actor=user.actor, actor_id=user.user_id)
    session.refresh(deal)
    return deal


@router.delete("/deals/{deal_id}", status_code=204)
def delete_deal(deal_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    deal = scoping.get_visible(session, user, Deal, deal_id)
    _sellers_only(user)
    session.delete(deal)
    session.flush()
    return Response(status_code=204)


@router.get("/quotes", response_model=list[QuoteOut])
def list_quotes(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                deal_id: RefId | None = None, status: QuoteStatus | None = None) -> Any:
    filters = [c for c in (Quote.deal_id == deal_id if deal_id else None,
                           Quote.status == status if status else None) if c is not None]
    return scoping.list_visible(session, user, Quote, filters=filters, limit=limit, offset=offset)


def quote_detail(session: SessionDep, quote: Quote) -> QuoteDetail:
    """The quote with its lines and, once accepted, its order's id."""
    out = QuoteDetail.model_validate(quote)
    out.lines = [QuoteLineOut.model_validate(line) for line in sales_repo.quote_lines(session, quote.id)]
    order = sales_repo.order_for_quote(session, quote.id)
    out.order_id = order.id if order is not None else None
    return out


@router.get("/quotes/{quote_id}", response_model=QuoteDetail)
def get_quote(quote_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return quote_detail(session, scoping.get_visible(session, user, Quote, quote_id))


@router.post("/quotes", response_model=QuoteDetail, status_code=201)
def create_quote(body: QuoteIn, session: SessionDep, user: CurrentUser) -> Any:
    _sellers_only(user)
    check_ref(session, user, Account, body.account_id)
    check_ref(session, user, Deal, body.deal_id)
    check_ref(session, user, Contact, body.contact_id)
    lines = [quote_service.LineInput(**line.model_dump()) for line in body.lines]
    quote = quote_service.create_quote(session, account_id=body.account_id, lines=lines, currency=body.currency,
                                       deal_id=body.deal_id, contact_id=body.contact_id,
                                       valid_until=body.valid_until, tax_rate=body.tax_rate, terms=body.terms,
                                       created_by_id=user.user_id, actor=user.actor)
    session.refresh(quote)
    return quote_detail(session, quote)
