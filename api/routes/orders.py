"""The quote lifecycle (send, accept, reject) and sales orders (from an accepted quote or a won deal).

Scope first, then role: an object outside the caller's scope is a 404 whatever the role; a CSM may read all of
it but change only the quotes of deals they own (renewals). A refused transition is a 409 naming the quote's
status, and the request's transaction writes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from api.deps import CurrentUser, SessionDep
from api.routes.common import Limit, LongText, Offset, Out, PathId, RefId, Text200
from api.routes.deals import QuoteDetail, quote_detail
from core.models import Deal, Quote, SalesOrder
from core.models.enums import OrderStatus
from core.repositories import sales as sales_repo
from core.repositories import scoping
from core.services import quotes as quote_service

router = APIRouter(tags=["quotes & orders"])


class RejectIn(BaseModel):
    reason: Text200 = Field(min_length=1, description="Why the customer declined (kept in the audit row and the "
                                                      "quote.rejected event).")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class OrderLineOut(Out):
    position: int = Field(description="Line number, as on the quote.")
    product_id: int | None = Field(description="Catalog product, if the line has one.")
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal
    line_total: Decimal = Field(description="Net of the line discount, rounded half-up to cents.")


class OrderOut(Out):
    id: int
    number: str = Field(description="Human-readable order number (SO-000123).")
    account_id: int = Field(description="The account billed.")
    deal_id: int | None = Field(description="The deal won by this order, if any.")
    quote_id: int | None = Field(description="The accepted quote this order was made from, if any.")
    currency: str
    total: Decimal = Field(description="The quote's total (tax included), or the deal's amount.")
    status: OrderStatus
    ordered_at: datetime
    created_at: datetime


class OrderDetail(OrderOut):
    lines: list[OrderLineOut] = Field(default=[], description="The order lines, copied from the quote.")


def _order_detail(session: SessionDep, order: SalesOrder) -> OrderDetail:
    out = OrderDetail.model_validate(order)
    out.lines = [OrderLineOut.model_validate(line) for line in sales_repo.order_lines(session, order.id)]
    return out


def _changeable(session: SessionDep, user: CurrentUser, quote_id: int) -> Quote:
    quote = scoping.get_visible(session, user, Quote, quote_id, lock=True)
    quote_service.ensure_may_change(session, user, quote.deal_id)
    return quote


class QuotePatch(BaseModel):
    valid_until: date | None = Field(default=None, description="Until when the offer stands; not in the past.")
    contact_id: RefId | None = Field(default=None, description="Who receives it: a contact of the quote's account.")
    terms: LongText | None = None


@router.patch("/quotes/{quote_id}", response_model=QuoteDetail)
def update_quote(quote_id: PathId, body: QuotePatch, session: SessionDep, user: CurrentUser) -> Any:
    """Edit a draft quote (validity, contact, terms) before sending it; a sent quote answers 409."""
    _changeable(session, user, quote_id)
    changes = body.model_dump(exclude_unset=True)
    quote = quote_service.update_draft(session, quote_id, changes, today=datetime.now(UTC).date(), actor=user.actor,
                                       actor_id=user.user_id)
    return quote_detail(session, quote)


@router.post("/quotes/{quote_id}/send", response_model=QuoteDetail)
def send_quote(quote_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """draft -> sent; starts the Quote Follow-up agent's clock (event quote.sent)."""
    _changeable(session, user, quote_id)
    quote = quote_service.send_quote(session, quote_id, actor=user.actor, actor_id=user.user_id)
    return quote_detail(session, quote)


@router.post("/quotes/{quote_id}/accept", response_model=QuoteDetail)
def accept_quote(quote_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """sent -> accepted: the sales order is made at once (its id is in `order_id`) and the deal is won
    (events quote.accepted, order.created, deal.stage_changed; a renewal deal's contract is then extended)."""
    quote = _changeable(session, user, quote_id)
    quote_service.accept_quote(session, quote_id, actor=user.actor, actor_id=user.user_id)
    session.refresh(quote)
    return quote_detail(session, quote)


@router.post("/quotes/{quote_id}/reject", response_model=QuoteDetail)
def reject_quote(quote_id: PathId, body: RejectIn, session: SessionDep, user: CurrentUser) -> Any:
    """sent -> rejected, with the customer's reason (event quote.rejected)."""
    _changeable(session, user, quote_id)
    quote = quote_service.reject_quote(session, quote_id, actor=user.actor, actor_id=user.user_id,
                                       reason=body.reason)
    return quote_detail(session, quote)


@router.post("/quotes/{quote_id}/order", response_model=OrderDetail)
def order_from_quote(quote_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """The accepted quote's sales order: made if missing, else the existing one (a repeated call never makes a
    second order)."""
    _changeable(session, user, quote_id)
    order, _created = quote_service.order_from_quote(session, quote_id, actor=user.actor, actor_id=user.user_id)
    return _order_detail(session, order)


@router.post("/deals/{deal_id}/order", response_model=OrderDetail, status_code=201)
def order_from_deal(deal_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """A deal without a quote becomes an order of one line for its amount; an open deal is won by it."""
    scoping.get_visible(session, user, Deal, deal_id, lock=True)
    quote_service.ensure_may_change(session, user, deal_id)
    order = quote_service.order_from_deal(session, deal_id, actor=user.actor, actor_id=user.user_id)
    session.refresh(order)
    return _order_detail(session, order)


@router.get("/orders", response_model=list[OrderOut])
def list_orders(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                account_id: RefId | None = None, deal_id: RefId | None = None) -> Any:
    filters = [c for c in (SalesOrder.account_id == account_id if account_id else None,
                           SalesOrder.deal_id == deal_id if deal_id else None) if c is not None]
    return scoping.list_visible(session, user, SalesOrder, filters=filters, limit=limit, offset=offset)


@router.get("/orders/{order_id}", response_model=OrderDetail)
def get_order(order_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return _order_detail(session, scoping.get_visible(session, user, SalesOrder, order_id))
