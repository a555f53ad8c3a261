"""Accounts and contacts: every role reads within its scope (api scopes in core/repositories/scoping.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.routes.common import (
    Country2,
    Currency,
    Email,
    LabelsOut,
    LabelsPatch,
    Lang,
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
    Text64,
    Text200,
    Text255,
)
from core.errors import InvalidInput
from core.models import Account, Contact
from core.models.enums import BuyingRole, Lifecycle, Role, SizeBand
from core.repositories import events, scoping
from core.repositories.scoping import Principal
from core.services import engagement
from core.services.auth import Forbidden
from core.services.customer360 import Customer360, customer_360
from core.services.snapshot import snapshot
from core.services.updates import update_fields

router = APIRouter(tags=["accounts"])


class AccountIn(BaseModel):
    name: Name
    domain: Text255 | None = None
    industry: Short | None = None
    description: LongText | None = None
    size_band: SizeBand | None = None
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    annual_revenue: Money | None = None
    country: Country2 | None = None
    segment: Text64 | None = None
    lifecycle: Lifecycle = Lifecycle.prospect
    currency: Currency = "USD"
    parent_id: RefId | None = None
    account_manager_id: RefId | None = None
    csm_id: RefId | None = None


class AccountPatch(LabelsPatch):
    name: Name | None = None
    domain: Text255 | None = None
    industry: Short | None = None
    description: LongText | None = None
    size_band: SizeBand | None = None
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    country: Country2 | None = None
    segment: Text64 | None = None
    lifecycle: Lifecycle | None = None
    account_manager_id: RefId | None = None
    csm_id: RefId | None = None


class AccountOut(Out):
    id: int
    name: str
    parent_id: int | None
    domain: str | None
    industry: str | None
    description: str | None
    size_band: SizeBand | None
    employees: int | None
    annual_revenue: Decimal | None
    country: str | None
    segment: str | None
    lifecycle: Lifecycle
    currency: str
    account_manager_id: int | None
    csm_id: int | None
    tags: list[str]
    custom_fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ContactIn(BaseModel):
    first_name: Short
    last_name: Short = ""
    account_id: RefId | None = None
    title: Text200 | None = None
    buying_role: BuyingRole | None = None
    owner_id: RefId | None = None
    emails: list[Email] = Field(default_factory=list, max_length=10)
    phones: list[Phone] = Field(default_factory=list, max_length=10)
    language: Lang | None = None


class ContactPatch(LabelsPatch):
    first_name: Short | None = None
    last_name: Short | None = None
    title: Text200 | None = None
    buying_role: BuyingRole | None = None
    owner_id: RefId | None = None
    do_not_call: bool | None = None


class ContactOut(Out, LabelsOut):
    id: int
    account_id: int | None
    first_name: str
    last_name: str
    title: str | None
    buying_role: BuyingRole | None
    owner_id: int | None
    email_consent: bool
    do_not_call: bool
    created_at: datetime


def check_assignable(session: SessionDep, user: Principal, field: str, user_id: int | None) -> None:
    """Owners and assignees must be people the caller may see (a rep assigns to self, a manager to the team)."""
    if user_id is not None and not scoping.may_see_user(session, user, user_id):
        raise InvalidInput(field, f"user {user_id} is not someone you can assign")


def check_ref(session: SessionDep, user: Principal, model: type, object_id: int | None) -> None:
    """A referenced object outside the caller's scope is 'not found', exactly like a missing one."""
    if object_id is not None:
        scoping.get_visible(session, user, model, object_id)


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                  q: Short | None = None) -> Any:
    filters = [Account.name.ilike(f"%{q}%")] if q else []
    return scoping.list_visible(session, user, Account, filters=filters, limit=limit, offset=offset)


@router.post("/accounts", response_model=AccountOut, status_code=201)
def create_account(body: AccountIn, session: SessionDep, user: CurrentUser) -> Any:
    """Reps and managers create accounts they manage; only admins choose any manager or CSM."""
    if user.role is Role.csm:
        raise Forbidden("role csm may not create accounts")
    data = body.model_dump()
    if not user.is_admin:
        data["account_manager_id"] = data["account_manager_id"] or user.user_id
        check_assignable(session, user, "account_manager_id", data["account_manager_id"])
        if data["csm_id"] is not None:
            raise InvalidInput("csm_id", "only an admin assigns a CSM")
    check_ref(session, user, Account, data["parent_id"])
    account = Account(**data)
    session.add(account)
    session.flush()
    events.add_audit(session, actor=user.actor, actor_id=user.user_id, action="create", entity_type="account",
                     entity_id=account.id, after=snapshot(account))
    session.refresh(account)
    return account


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(account_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Account, account_id)


@router.get("/accounts/{account_id}/360", response_model=Customer360)
def account_360(account_id: PathId, session: SessionDep, user: CurrentUser,
                timeline_limit: Annotated[int, Query(ge=1, le=1000, description="Timeline entries.")] = 50) -> Any:
    """Customer 360: contacts, open deals, timeline, tickets, AR and unpaid invoices, NPS, contracts, usage and
    the suggested credit limit of one account, as the account page shows them."""
    scoping.get_visible(session, user, Account, account_id)
    return customer_360(session, account_id, timeline_limit=timeline_limit)


@router.patch("/accounts/{account_id}", response_model=AccountOut)
def update_account(account_id: PathId, body: AccountPatch, session: SessionDep, user: CurrentUser) -> Any:
    account = scoping.get_visible(session, user, Account, account_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise InvalidInput("name", "must not be empty")
    if not user.is_admin and "csm_id" in changes:
        raise InvalidInput("csm_id", "only an admin assigns a CSM")
    check_assignable(session, user, "account_manager_id", changes.get("account_manager_id"))
    update_fields(session, account, changes, entity_type="account", actor=user.actor, actor_id=user.user_id)
    session.refresh(account)
    return account


@router.delete("/accounts/{account_id}", status_code=204)
def delete_account(account_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    """Admins only: an account still referenced by deals, quotes or invoices is refused (409)."""
    if not user.is_admin:
        scoping.get_visible(session, user, Account, account_id)
        raise Forbidden("only an admin deletes accounts")
    session.delete(scoping.get_visible(session, user, Account, account_id))
    session.flush()
    return Response(status_code=204)


@router.get("/contacts", response_model=list[ContactOut])
def list_contacts(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                  account_id: RefId | None = None) -> Any:
    filters = [Contact.account_id == account_id] if account_id else []
    return scoping.list_visible(session, user, Contact, filters=filters, limit=limit, offset=offset)


@router.post("/contacts", response_model=ContactOut, status_code=201)
def create_contact(body: ContactIn, session: SessionDep, user: CurrentUser) -> Any:
    check_ref(session, user, Account, body.account_id)
    owner = body.owner_id if body.owner_id is not None else (None if user.is_admin else user.user_id)
    check_assignable(session, user, "owner_id", owner)
    contact = engagement.create_contact(
        session, first_name=body.first_name, last_name=body.last_name, emails=[str(e) for e in body.emails],
        phones=list(body.phones), actor=user.actor, account_id=body.account_id, title=body.title,
        buying_role=body.buying_role, owner_id=owner, language=body.language)
    session.refresh(contact)
    return contact


@router.get("/contacts/{contact_id}", response_model=ContactOut)
def get_contact(contact_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Contact, contact_id)


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
def update_contact(contact_id: PathId, body: ContactPatch, session: SessionDep, user: CurrentUser) -> Any:
    contact = scoping.get_visible(session, user, Contact, contact_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    for key in ("first_name", "last_name", "do_not_call"):
        if key in changes and changes[key] is None:
            raise InvalidInput(key, "must not be null")
    check_assignable(session, user, "owner_id", changes.get("owner_id"))
    update_fields(session, contact, changes, entity_type="contact", actor=user.actor, actor_id=user.user_id)
    session.refresh(contact)
    return contact


@router.post("/contacts/{contact_id}/unsubscribe", response_model=ContactOut)
def unsubscribe_contact(contact_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    scoping.get_visible(session, user, Contact, contact_id)
    return engagement.unsubscribe(session, contact_id, actor=user.actor)


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(contact_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    session.delete(scoping.get_visible(session, user, Contact, contact_id))
    session.flush()
    return Response(status_code=204)
