"""Sales orders for the people who follow them after the quote: the orders in the viewer's scope, and one order
with its lines, linked to its deal and account.

The same reads as GET /orders and GET /orders/{id} (api/routes/orders.py): `scoping.list_visible` and
`scoping.get_visible` on SalesOrder (an order is seen with its deal or its account, like the quote it came from;
404 outside the scope) and `sales.order_lines`. Orders are made on the deal page (quote buttons), not here.
A link to the deal or the account is shown only when the viewer sees it too (an order seen through its deal
may belong to an account the viewer does not see).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.routes.common import PathId, RefId
from core.models import Account, Deal, SalesOrder
from core.repositories import sales as sales_repo
from core.repositories import scoping, web_views
from core.repositories.scoping import Principal
from web.common import page_user, render

router = APIRouter(prefix="/app", include_in_schema=False)
SignedIn = Annotated[Principal, Depends(page_user())]
PAGE_SIZE = 50


@router.get("/orders", response_class=HTMLResponse)
def orders(request: Request, session: SessionDep, user: SignedIn,
           page: Annotated[int, Query(ge=1, le=10_000)] = 1, account_id: RefId | None = None,
           deal_id: RefId | None = None) -> Response:
    """The orders this person sees, newest first, 50 a page; optionally those of one account or deal (as the
    API's filters)."""
    filters = [c for c in (SalesOrder.account_id == account_id if account_id else None,
                           SalesOrder.deal_id == deal_id if deal_id else None) if c is not None]
    rows = scoping.list_visible(session, user, SalesOrder, filters=filters, limit=PAGE_SIZE + 1,
                                offset=(page - 1) * PAGE_SIZE)
    shown = list(rows[:PAGE_SIZE])
    query = "".join(f"&{k}={v}" for k, v in (("account_id", account_id), ("deal_id", deal_id)) if v)
    return render(request, "orders.html", {
        "orders": shown, "page": page, "more": len(rows) > PAGE_SIZE, "query": query,
        "accounts": web_views.account_names(session, scoping.clause(user, Account), [o.account_id for o in shown]),
        "deals": web_views.deal_names(session, scoping.clause(user, Deal), [o.deal_id for o in shown])})


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(order_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    """One order in scope (404 outside it, like the API) with its lines."""
    order = scoping.get_visible(session, user, SalesOrder, order_id)
    return render(request, "order.html", {
        "order": order, "lines": sales_repo.order_lines(session, order.id),
        "accounts": web_views.account_names(session, scoping.clause(user, Account), [order.account_id]),
        "deals": web_views.deal_names(session, scoping.clause(user, Deal), [order.deal_id])})
