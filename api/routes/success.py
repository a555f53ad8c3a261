"""Customer-success records people enter: NPS answers, support tickets, contracts, usage snapshots, invoices and
payments. NPS answers and payments write the outbox events the NPS Follow-up and Customer Health Monitor react to;
the rest feed the scheduled agents (health, renewals, NPS survey, upsell/expansion).

Reading follows the account (anyone who sees the account sees its records); writing is for the account's
stewards (scoping.stewarded_accounts: its account manager or their manager, its CSM, admins), 403 for others
who merely see it. An account outside the caller's scope answers 404 like a missing one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.routes.accounts import check_ref
from api.routes.common import Currency, Key64, Limit, LongText, Money, Name, Name80, Offset, Out, PathId, RefId
from core.errors import InvalidInput
from core.models import Account, Contact, Contract, Deal, Invoice, NpsResponse, Ticket, UsageSnapshot
from core.models.enums import ContractStatus, InvoiceStatus, PaymentMethod, TicketPriority, TicketStatus
from core.repositories import scoping
from core.repositories import success as success_repo
from core.repositories.scoping import Principal
from core.services import engagement
from core.services import invoices as invoice_service
from core.services import success as success_service

router = APIRouter(tags=["customer success"])

FIRST_YEAR, LAST_YEAR = 1900, 2200
MAX_INT = 2**31 - 1


def _plausible_day(value: date) -> date:
    """Dates far outside any business calendar are typos; refusing them also keeps date arithmetic in range."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _plausible_moment(value: datetime) -> datetime:
    _plausible_day(value.date())
    return value


Day = Annotated[date, AfterValidator(_plausible_day)]
Moment = Annotated[AwareDatetime, AfterValidator(_plausible_moment)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
InvoiceNumber = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]


def _steward_account(session: SessionDep, user: Principal, account_id: int) -> Account:
    """The account to write on: 404 when the caller cannot see it, 403 when they see it but do not look after it."""
    account = scoping.get_visible(session, user, Account, account_id)
    success_service.ensure_steward(session, user, account_id)
    return account


def _by_account(model: Any, account_id: int | None) -> list[Any]:
    return [model.account_id == account_id] if account_id is not None else []


# --- NPS -----------------------------------------------------------------------------------------------------------

class NpsIn(BaseModel):
    account_id: RefId = Field(description="The account that answered.")
    contact_id: RefId | None = Field(None, description="Who answered; must be a contact of the account. Without "
                                                       "one the NPS Follow-up drafts no reply (nobody to write to).")
    score: int = Field(ge=0, le=10, description="0-10; 0-6 detractor, 7-8 passive, 9-10 promoter.")
    comment: LongText | None = Field(None, description="The customer's words; the reply draft answers them.")
    responded_at: Moment | None = Field(None, description="When they answered (with a UTC offset); default now.")


class NpsOut(Out):
    id: int = Field(description="Response id (the subject of the NPS Follow-up run).")
    account_id: int = Field(description="Account.")
    contact_id: int | None = Field(description="Contact who answered.")
    survey_id: int | None = Field(description="Survey sent by the NPS survey agent, if any.")
    score: int = Field(description="0-10.")
    category: str = Field(description="promoter, passive or detractor (computed by the database).")
    comment: str | None = Field(description="Comment.")
    responded_at: datetime = Field(description="When they answered.")


@router.get("/nps-responses", response_model=list[NpsOut])
def list_nps_responses(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                       account_id: RefId | None = None) -> Any:
    """Answers of the accounts in scope, newest first."""
    return scoping.list_visible(session, user, NpsResponse, filters=_by_account(NpsResponse, account_id),
                                order_by=(NpsResponse.responded_at.desc(), NpsResponse.id.desc()),
                                limit=limit, offset=offset)


@router.post("/nps-responses", response_model=NpsOut, status_code=201)
def create_nps_response(body: NpsIn, session: SessionDep, user: CurrentUser) -> Any:
    """Writes `nps.response_received`: the NPS Follow-up drafts a reply (and a task for a detractor), the Health
    Monitor rescores the account. The reply language is the contact's `language`, else detected from the comment."""
    _steward_account(session, user, body.account_id)
    check_ref(session, user, Contact, body.contact_id)
    return engagement.record_nps_response(session, account_id=body.account_id, score=body.score,
                                          comment=body.comment, contact_id=body.contact_id,
                                          responded_at=body.responded_at, actor=user.actor, actor_id=user.user_id)


# --- Tickets -------------------------------------------------------------------------------------------------------

class TicketIn(BaseModel):
    account_id: RefId = Field(description="The customer's account.")
    subject: Name = Field(description="One line.")
    description: LongText | None = Field(None, description="What the customer reports.")
    priority: TicketPriority = Field(TicketPriority.normal, description="Sets the SLA: urgent 4h, high 8h, "
                                                                        "normal 24h, low 72h after opening.")
    contact_id: RefId | None = Field(None, description="Who reported it; must be a contact of the account.")
    assignee_id: RefId | None = Field(None, description="Who works on it; default the caller when a CSM, else "
                                                        "the account's CSM.")
    opened_at: Moment | None = Field(None, description="When it was reported (with a UTC offset); default now.")
    sla_due_at: Moment | None = Field(None, description="An SLA deadline agreed otherwise; default from priority.")


class TicketPatch(BaseModel):
    subject: Name | None = Field(None, description="One line.")
    description: LongText | None = Field(None, description="What the customer reports.")
    priority: TicketPriority | None = Field(None, description="Changing it moves the SLA of an unresolved ticket.")
    status: TicketStatus | None = Field(None, description="open -> pending/solved/closed, pending -> open/solved/"
                                                          "closed, solved -> open (reopen)/closed; closed is final.")
    satisfaction: int | None = Field(None, ge=1, le=5, description="The customer's rating 1-5 of a solved or "
                                                                   "closed ticket (cleared when reopened).")
    assignee_id: RefId | None = Field(None, description="Who works on it.")


class TicketOut(Out):
    id: int = Field(description="Ticket id.")
    account_id: int = Field(description="Account.")
    contact_id: int | None = Field(description="Reporter.")
    subject: str = Field(description="Subject.")
    description: str | None = Field(description="Description.")
    priority: str = Field(description="urgent, high, normal or low.")
    status: TicketStatus = Field(description="Status.")
    opened_at: datetime = Field(description="Opened.")
    sla_due_at: datetime | None = Field(description="SLA deadline for resolution.")
    resolved_at: datetime | None = Field(description="Set when solved or closed.")
    satisfaction: int | None = Field(description="Rating 1-5.")
    assignee_id: int | None = Field(description="Assignee.")


def _check_assignee(session: SessionDep, user: Principal, account: Account, assignee_id: int | None) -> None:
    """Someone the caller may name, or the account's own CSM (a rep hands a ticket to the customer's CSM)."""
    if assignee_id is None or assignee_id == account.csm_id:
        return
    if not scoping.may_see_user(session, user, assignee_id):
        raise InvalidInput("assignee_id", f"user {assignee_id} is not someone you can assign")


@router.get("/tickets", response_model=list[TicketOut])
def list_tickets(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                 account_id: RefId | None = None, status: TicketStatus | None = None) -> Any:
    """Tickets of the accounts in scope, newest first."""
    filters = _by_account(Ticket, account_id) + ([Ticket.status == status] if status else [])
    return scoping.list_visible(session, user, Ticket, filters=filters,
                                order_by=(Ticket.opened_at.desc(), Ticket.id.desc()), limit=limit, offset=offset)


@router.post("/tickets", response_model=TicketOut, status_code=201)
def create_ticket(body: TicketIn, session: SessionDep, user: CurrentUser) -> Any:
    account = _steward_account(session, user, body.account_id)
    check_ref(session, user, Contact, body.contact_id)
    _check_assignee(session, user, account, body.assignee_id)
    assignee = body.assignee_id or success_service.default_assignee(user, account)
    ticket = success_service.open_ticket(
        session, account_id=account.id, subject=body.subject, description=body.description, priority=body.priority,
        contact_id=body.contact_id, assignee_id=assignee, opened_at=body.opened_at, sla_due_at=body.sla_due_at,
        actor=user.actor, actor_id=user.user_id)
    session.refresh(ticket)
    return ticket


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
def get_ticket(ticket_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Ticket, ticket_id)


@router.patch("/tickets/{ticket_id}", response_model=TicketOut)
def update_ticket(ticket_id: PathId, body: TicketPatch, session: SessionDep, user: CurrentUser) -> Any:
    ticket = scoping.get_visible(session, user, Ticket, ticket_id, lock=True)
    account = _steward_account(session, user, ticket.account_id)
    changes = body.model_dump(exclude_unset=True)
    _check_assignee(session, user, account, changes.get("assignee_id"))
    success_service.update_ticket(session, ticket, changes, actor=user.actor, actor_id=user.user_id)
    session.refresh(ticket)
    return ticket


# --- Contracts -----------------------------------------------------------------------------------------------------

class ContractIn(BaseModel):
    account_id: RefId = Field(description="The customer's account.")
    plan: Name80 = Field(description="Plan name (e.g. Professional).")
    start_date: Day = Field(description="First day of the term.")
    end_date: Day = Field(description="Last day of the term; renewals open a renewal deal before it.")
    arr: Money = Field(description="Annual recurring revenue of the contract.")
    currency: Currency | None = Field(None, description="ISO code; default the account's currency.")
    seat_limit: int | None = Field(None, ge=1, le=MAX_INT, description="Seats bought (upsell reads seat pressure).")
    auto_renew: bool = Field(False, description="Renews without a renewal deal.")
    deal_id: RefId | None = Field(None, description="The deal that won it; must be a deal of the account.")
    status: ContractStatus = Field(ContractStatus.active, description="active, expired or cancelled.")


class ContractPatch(BaseModel):
    plan: Name80 | None = Field(None, description="Plan name.")
    start_date: Day | None = Field(None, description="First day of the term.")
    end_date: Day | None = Field(None, description="Last day of the term.")
    arr: Money | None = Field(None, description="Annual recurring revenue.")
    seat_limit: int | None = Field(None, ge=1, le=MAX_INT, description="Seats bought (null: unlimited).")
    auto_renew: bool | None = Field(None, description="Renews without a renewal deal.")
    status: ContractStatus | None = Field(None, description="active, expired or cancelled.")


class ContractOut(Out):
    id: int = Field(description="Contract id.")
    account_id: int = Field(description="Account.")
    deal_id: int | None = Field(description="Deal that won it.")
    plan: str = Field(description="Plan.")
    start_date: date = Field(description="Term start.")
    end_date: date = Field(description="Term end.")
    arr: Decimal = Field(description="ARR.")
    currency: str = Field(description="Currency.")
    seat_limit: int | None = Field(description="Seats bought.")
    auto_renew: bool = Field(description="Auto-renews.")
    status: ContractStatus = Field(description="Status.")


@router.get("/contracts", response_model=list[ContractOut])
def list_contracts(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                   account_id: RefId | None = None) -> Any:
    """Contracts of the accounts in scope, latest ending first."""
    return scoping.list_visible(session, user, Contract, filters=_by_account(Contract, account_id),
                                order_by=(Contract.end_date.desc(), Contract.id.desc()), limit=limit, offset=offset)


@router.post("/contracts", response_model=ContractOut, status_code=201)
def create_contract(body: ContractIn, session: SessionDep, user: CurrentUser) -> Any:
    account = _steward_account(session, user, body.account_id)
    check_ref(session, user, Deal, body.deal_id)
    contract = success_service.create_contract(
        session, account_id=account.id, plan=body.plan, start_date=body.start_date, end_date=body.end_date,
        arr=body.arr, currency=body.currency or account.currency, seat_limit=body.seat_limit,
        auto_renew=body.auto_renew, deal_id=body.deal_id, status=body.status, actor=user.actor,
        actor_id=user.user_id)
    session.refresh(contract)
    return contract


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def get_contract(contract_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Contract, contract_id)


@router.patch("/contracts/{contract_id}", response_model=ContractOut)
def update_contract(contract_id: PathId, body: ContractPatch, session: SessionDep, user: CurrentUser) -> Any:
    contract = scoping.get_visible(session, user, Contract, contract_id, lock=True)
    _steward_account(session, user, contract.account_id)
    success_service.update_contract(session, contract, body.model_dump(exclude_unset=True), actor=user.actor,
                                    actor_id=user.user_id)
    session.refresh(contract)
    return contract


# --- Usage ---------------------------------------------------------------------------------------------------------

class UsageIn(BaseModel):
    account_id: RefId = Field(description="The customer's account.")
    captured_on: Day = Field(description="The day measured; one snapshot per account and day.")
    logins: Count = Field(0, description="Logins that day.")
    active_users: Count = Field(0, description="Distinct active users.")
    seats_used: Count = Field(0, description="Seats assigned (against the contract's seat limit).")
    features_adopted: list[Key64] = Field(default_factory=list, max_length=200,
                                            description="Feature keys in use (duplicates dropped).")


class UsageOut(Out):
    id: int = Field(description="Snapshot id.")
    account_id: int = Field(description="Account.")
    captured_on: date = Field(description="Day measured.")
    logins: int = Field(description="Logins.")
    active_users: int = Field(description="Active users.")
    seats_used: int = Field(description="Seats used.")
    features_adopted: list[str] = Field(description="Features in use.")


@router.get("/usage-snapshots", response_model=list[UsageOut])
def list_usage_snapshots(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                         account_id: RefId | None = None) -> Any:
    """Snapshots of the accounts in scope, latest day first."""
    return scoping.list_visible(session, user, UsageSnapshot, filters=_by_account(UsageSnapshot, account_id),
                                order_by=(UsageSnapshot.captured_on.desc(), UsageSnapshot.id.desc()),
                                limit=limit, offset=offset)


@router.post("/usage-snapshots", response_model=UsageOut, status_code=201)
def create_usage_snapshot(body: UsageIn, session: SessionDep, user: CurrentUser) -> Any:
    _steward_account(session, user, body.account_id)
    return success_service.record_usage(
        session, account_id=body.account_id, captured_on=body.captured_on, logins=body.logins,
        active_users=body.active_users, seats_used=body.seats_used, features_adopted=body.features_adopted,
        actor=user.actor, actor_id=user.user_id)


# --- Invoices and payments -----------------------------------------------------------------------------------------

class InvoiceIn(BaseModel):
    account_id: RefId = Field(description="The billed account.")
    number: InvoiceNumber = Field(description="Unique invoice number (letters, digits, . _ / -).")
    amount: PositiveMoney = Field(description="Total due.")
    currency: Currency | None = Field(None, description="ISO code; default the account's currency.")
    issued_on: Day | None = Field(None, description="Issue date; default today.")
    due_on: Day = Field(description="Due date, on or after the issue date.")
    status: InvoiceStatus = Field(InvoiceStatus.open, description="draft or open (issued).")


class InvoicePatch(BaseModel):
    status: InvoiceStatus = Field(description="draft -> open or void; open -> void while nothing is paid. "
                                              "An invoice becomes paid only through payments.")


class InvoiceOut(BaseModel):
    id: int = Field(description="Invoice id.")
    number: str = Field(description="Invoice number.")
    account_id: int = Field(description="Account.")
    currency: str = Field(description="Currency.")
    amount: Decimal = Field(description="Total due.")
    issued_on: date = Field(description="Issued.")
    due_on: date = Field(description="Due.")
    status: InvoiceStatus = Field(description="draft, open, paid or void.")
    paid: Decimal = Field(description="Sum of its payments.")
    balance: Decimal = Field(description="Still open (amount - paid).")


class PaymentIn(BaseModel):
    amount: PositiveMoney = Field(description="Paid now; at most the open balance.")
    paid_on: Day | None = Field(None, description="Date received; default today.")
    method: PaymentMethod = Field(PaymentMethod.bank_transfer, description="How it was paid.")


class PaymentOut(Out):
    id: int = Field(description="Payment id.")
    invoice_id: int = Field(description="Invoice.")
    amount: Decimal = Field(description="Amount.")
    paid_on: date = Field(description="Date received.")
    method: str = Field(description="Method.")


class PaymentResult(BaseModel):
    payment: PaymentOut = Field(description="The payment recorded.")
    invoice: InvoiceOut = Field(description="The invoice after it (paid once nothing is left open).")


def _invoice_out(session: SessionDep, invoices: list[Invoice]) -> list[InvoiceOut]:
    paid = success_repo.paid_totals(session, [i.id for i in invoices])
    return [InvoiceOut(id=i.id, number=i.number, account_id=i.account_id, currency=i.currency, amount=i.amount,
                       issued_on=i.issued_on, due_on=i.due_on, status=i.status, paid=paid[i.id],
                       balance=i.amount - paid[i.id]) for i in invoices]


@router.get("/invoices", response_model=list[InvoiceOut])
def list_invoices(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                  account_id: RefId | None = None, status: InvoiceStatus | None = None) -> Any:
    """Invoices of the accounts in scope, latest issued first, with what is paid and still open."""
    filters = _by_account(Invoice, account_id) + ([Invoice.status == status] if status else [])
    rows = scoping.list_visible(session, user, Invoice, filters=filters,
                                order_by=(Invoice.issued_on.desc(), Invoice.id.desc()), limit=limit, offset=offset)
    return _invoice_out(session, list(rows))


@router.post("/invoices", response_model=InvoiceOut, status_code=201)
def create_invoice(body: InvoiceIn, session: SessionDep, user: CurrentUser) -> Any:
    account = _steward_account(session, user, body.account_id)
    invoice = invoice_service.create_invoice(
        session, account_id=account.id, number=body.number, amount=body.amount,
        currency=body.currency or account.currency, issued_on=body.issued_on or datetime.now(UTC).date(),
        due_on=body.due_on, status=body.status, actor=user.actor, actor_id=user.user_id)
    return _invoice_out(session, [invoice])[0]


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return _invoice_out(session, [scoping.get_visible(session, user, Invoice, invoice_id)])[0]


@router.patch("/invoices/{invoice_id}", response_model=InvoiceOut)
def update_invoice(invoice_id: PathId, body: InvoicePatch, session: SessionDep, user: CurrentUser) -> Any:
    invoice = scoping.get_visible(session, user, Invoice, invoice_id, lock=True)
    _steward_account(session, user, invoice.account_id)
    invoice_service.change_status(session, invoice, body.status, actor=user.actor, actor_id=user.user_id)
    return _invoice_out(session, [invoice])[0]


@router.get("/invoices/{invoice_id}/payments", response_model=list[PaymentOut])
def list_payments(invoice_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    invoice = scoping.get_visible(session, user, Invoice, invoice_id)
    return success_repo.payments_of(session, invoice.id)


@router.post("/invoices/{invoice_id}/payments", response_model=PaymentResult, status_code=201)
def create_payment(invoice_id: PathId, body: PaymentIn, session: SessionDep, user: CurrentUser) -> Any:
    """Writes `payment.received` (the Health Monitor rescores the account); the invoice turns paid when covered.
    Overpaying answers 422 (`amount`), paying a draft, paid or void invoice 409 (`amount`); nothing is written."""
    invoice = scoping.get_visible(session, user, Invoice, invoice_id, lock=True)
    _steward_account(session, user, invoice.account_id)
    payment = engagement.record_payment(session, invoice.id, body.amount, body.paid_on or datetime.now(UTC).date(),
                                        body.method.value, actor=user.actor, actor_id=user.user_id)
    session.refresh(invoice)
    return PaymentResult(payment=PaymentOut.model_validate(payment), invoice=_invoice_out(session, [invoice])[0])
