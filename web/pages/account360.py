"""The Customer 360 page and the writes a CSM or account manager makes from it: log an NPS answer, open a ticket
and move its status, record a payment on an unpaid invoice, edit the account's tags and custom fields.

Each form runs the service its REST route runs (core.services.engagement / success / updates), behind the same
checks: the account must be visible (404 otherwise), customer-success records are written only by the account's
stewards (core.services.success.ensure_steward, 403 otherwise), and tags / custom fields by anyone who may edit
the account through PATCH /accounts/{id} (anyone who sees it). The page shows a form only to those it would
accept. A success comes back to the page with a flash message; a refused value re-renders the page (4xx) with the
message naming the field, and nothing is written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.routes.common import PathId
from core.errors import CrmError, InvalidInput
from core.models import Account, AgentScore, Contact, CustomFieldDefinition, Invoice, NpsResponse, Ticket
from core.models.enums import CustomFieldType, PaymentMethod, SegmentEntity, TicketPriority, TicketStatus
from core.repositories import custom_fields as custom_field_repo
from core.repositories import scoping, web_views
from core.repositories.scoping import Principal
from core.services import engagement
from core.services import success as success_service
from core.services.customer360 import customer_360
from core.services.updates import update_fields
from web.common import FormDep, form_text, message_of, page_user, render, status_of

router = APIRouter(prefix="/app", include_in_schema=False)
SignedIn = Annotated[Principal, Depends(page_user())]
RECENT_NPS = 10
MAX_COMMENT = 20_000
E = TypeVar("E", bound=StrEnum)


def _context(session: Session, user: Principal, account_id: int) -> dict[str, Any]:
    """Everything the page shows; the caller has checked that the account is visible."""
    view = customer_360(session, account_id)
    health = web_views.latest_scores(session, scoping.clause(user, AgentScore), "account", [account_id],
                                     purpose="health").get((account_id, "health"))
    names = web_views.user_names(session, [view.account.account_manager_id, view.account.csm_id,
                                           *[d.owner_id for d in view.open_deals]])
    answers = scoping.list_visible(session, user, NpsResponse, filters=[NpsResponse.account_id == account_id],
                                   order_by=(NpsResponse.responded_at.desc(), NpsResponse.id.desc()),
                                   limit=RECENT_NPS)
    return {"c": view, "health": health, "names": names, "answers": answers,
            "contact_names": {p.id: p.name for p in view.contacts},
            "may_steward": scoping.is_steward(session, user, account_id),
            "definitions": custom_field_repo.definitions(session, SegmentEntity.account),
            "next_status": {s.value: [n.value for n in success_service.NEXT_STATUS[s]] for s in TicketStatus},
            "priorities": [p.value for p in TicketPriority], "methods": [m.value for m in PaymentMethod],
            "today": datetime.now(UTC).date().isoformat(), "error": None, "error_form": None, "values": {}}


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_360(account_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    """Customer 360 of any account in scope (404 outside it, like the API), with the forms this person may use."""
    scoping.get_visible(session, user, Account, account_id)
    return render(request, "account360.html", _context(session, user, account_id))


def _back(account_id: int, message: str) -> RedirectResponse:
    return RedirectResponse(f"/app/accounts/{account_id}?msg={quote_plus(message)}", status_code=303)


def _refused(request: Request, session: Session, user: Principal, account_id: int, form_name: str,
             form: FormData, exc: CrmError) -> Response:
    """The page again, the refused form keeping what was typed and the message naming the field."""
    session.rollback()
    ctx = _context(session, user, account_id)
    ctx.update(error=message_of(exc), error_form=form_name,
               values={k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"})
    return render(request, "account360.html", ctx, status_code=status_of(exc))


def _optional_id(form: FormData, name: str) -> int | None:
    raw = form_text(form, name, required=False, max_len=19)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(name, "must be a positive whole number")
    return int(raw)


def _whole(form: FormData, name: str) -> int:
    raw = form_text(form, name, max_len=6)
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(name, "must be a whole number") from None


def _day(form: FormData, name: str) -> date | None:
    raw = form_text(form, name, required=False, max_len=10)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(name, "must be a date as YYYY-MM-DD") from None


def _amount(form: FormData, name: str) -> Decimal:
    raw = form_text(form, name, max_len=20).replace(",", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput(name, "must be an amount such as 1250.00") from None
    if not value.is_finite():
        raise InvalidInput(name, "must be an amount such as 1250.00")
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -2:
        raise InvalidInput(name, "must be an amount with at most two decimals")
    return value


def _choice(form: FormData, name: str, kind: type[E]) -> E:
    raw = form_text(form, name, max_len=40)
    try:
        return kind(raw)
    except ValueError:
        raise InvalidInput(name, f"must be one of: {', '.join(k.value for k in kind)}") from None


@router.post("/accounts/{account_id}/nps", response_class=HTMLResponse)
def log_nps(account_id: PathId, request: Request, form: FormDep, session: SessionDep, user: SignedIn) -> Response:
    """As POST /nps-responses: writes `nps.response_received` (the NPS Follow-up drafts a reply)."""
    scoping.get_visible(session, user, Account, account_id)
    success_service.ensure_steward(session, user, account_id)
    try:
        score = _whole(form, "score")
        contact_id = _optional_id(form, "contact_id")
        if contact_id is not None:
            scoping.get_visible(session, user, Contact, contact_id)
        comment = form_text(form, "comment", required=False, max_len=MAX_COMMENT) or None
        answer = engagement.record_nps_response(session, account_id=account_id, score=score, comment=comment,
                                                contact_id=contact_id, actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, user, account_id, "nps", form, exc)
    return _back(account_id, f"NPS answer {answer.score}/10 logged ({answer.category})")


@router.post("/accounts/{account_id}/tickets", response_class=HTMLResponse)
def open_ticket(account_id: PathId, request: Request, form: FormDep, session: SessionDep,
                user: SignedIn) -> Response:
    """As POST /tickets: the SLA follows the priority; the ticket goes to the account's CSM (a CSM keeps it)."""
    account = scoping.get_visible(session, user, Account, account_id)
    success_service.ensure_steward(session, user, account_id)
    try:
        subject = form_text(form, "subject", max_len=255)
        priority = _choice(form, "priority", TicketPriority)
        description = form_text(form, "description", required=False, max_len=MAX_COMMENT) or None
        ticket = success_service.open_ticket(
            session, account_id=account_id, subject=subject, description=description, priority=priority,
            assignee_id=success_service.default_assignee(user, account), actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, user, account_id, "ticket", form, exc)
    return _back(account_id, f"Ticket #{ticket.id} opened")


@router.post("/tickets/{ticket_id}/status", response_class=HTMLResponse)
def ticket_status(ticket_id: PathId, request: Request, form: FormDep, session: SessionDep,
                  user: SignedIn) -> Response:
    """As PATCH /tickets/{id} with a status: the service allows only the moves of NEXT_STATUS."""
    ticket = scoping.get_visible(session, user, Ticket, ticket_id, lock=True)
    account_id = ticket.account_id
    success_service.ensure_steward(session, user, account_id)
    try:
        status = _choice(form, "status", TicketStatus)
        success_service.update_ticket(session, ticket, {"status": status}, actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, user, account_id, f"ticket-{ticket_id}", form, exc)
    return _back(account_id, f"Ticket #{ticket_id} is now {status.value}")


@router.post("/invoices/{invoice_id}/payments", response_class=HTMLResponse)
def record_payment(invoice_id: PathId, request: Request, form: FormDep, session: SessionDep,
                   user: SignedIn) -> Response:
    """As POST /invoices/{id}/payments: writes `payment.received`; the invoice turns paid once covered."""
    invoice = scoping.get_visible(session, user, Invoice, invoice_id, lock=True)
    account_id, number = invoice.account_id, invoice.number
    success_service.ensure_steward(session, user, account_id)
    try:
        amount = _amount(form, "amount")
        paid_on = _day(form, "paid_on") or datetime.now(UTC).date()
        method = _choice(form, "method", PaymentMethod)
        engagement.record_payment(session, invoice_id, amount, paid_on, method.value, actor=user.actor,
                                  actor_id=user.user_id)
        session.refresh(invoice)
    except CrmError as exc:
        return _refused(request, session, user, account_id, f"invoice-{invoice_id}", form, exc)
    return _back(account_id, f"Payment of {amount} {invoice.currency} recorded on {number} ({invoice.status.value})")


def _field_value(definition: CustomFieldDefinition, form: FormData) -> Any:
    """What the form says for one definition, in the JSON type the service checks; an empty input removes the
    value. A number that does not parse is passed on as typed, so the service's message names the field."""
    name = f"cf_{definition.key}"
    if definition.data_type is CustomFieldType.boolean:
        return form.get(name) is not None
    raw = form_text(form, name, required=False)
    if not raw:
        return None
    if definition.data_type is CustomFieldType.number:
        for parse in (int, float):
            try:
                return parse(raw)
            except ValueError:
                continue
    return raw


@router.post("/accounts/{account_id}/labels", response_class=HTMLResponse)
def edit_labels(account_id: PathId, request: Request, form: FormDep, session: SessionDep,
                user: SignedIn) -> Response:
    """As PATCH /accounts/{id} with tags and custom_fields: tags normalised, each value checked against its
    definition; only the fields whose value changes are sent (an unticked box on an unset field stays unset)."""
    account = scoping.get_visible(session, user, Account, account_id, lock=True)
    try:
        tags = [t for t in form_text(form, "tags", required=False).split(",") if t.strip()]
        current = dict(account.custom_fields or {})
        changes: dict[str, Any] = {}
        for definition in custom_field_repo.definitions(session, SegmentEntity.account):
            value = _field_value(definition, form)
            if value == current.get(definition.key) or (value is False and definition.key not in current):
                continue
            changes[definition.key] = value
        updates: dict[str, Any] = {"tags": tags}
        if changes:
            updates["custom_fields"] = changes
        changed = update_fields(session, account, updates, entity_type="account", actor=user.actor,
                                actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, user, account_id, "labels", form, exc)
    return _back(account_id, "Tags and fields saved" if changed else "Nothing changed")
