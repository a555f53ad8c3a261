"""Row-level scope of every role, as SQL clauses: every list and every fetch by id goes through these.

rep      -> own leads and deals (owner_id = user), accounts they manage or hold a deal on, their contacts/tasks;
manager  -> the same for the whole team (users sharing team_id, or reporting to them through manager_id);
csm      -> accounts where accounts.csm_id = user, their contacts, and the drafts assigned to them
            (approvals.reviewer_id / escalated_to_id);
admin    -> everything.
Customer-success rows (NPS responses, tickets, contracts, usage snapshots, invoices) are seen with their account;
changing them is for the account's stewards (`stewarded_accounts`), a narrower set than those who see it.
An object outside the scope is reported as not found (404) by the callers, so its existence never leaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.models import (
    Account,
    Activity,
    AgentRun,
    AgentScore,
    Approval,
    Contact,
    Contract,
    Deal,
    Draft,
    Invoice,
    Lead,
    NpsResponse,
    Quote,
    SalesOrder,
    Suggestion,
    Task,
    Ticket,
    UsageSnapshot,
    User,
)
from core.models.enums import Role

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """Who is asking: enough to build every scope clause without loading the user again."""

    user_id: int
    role: Role
    team_id: int | None
    email: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def actor(self) -> str:
        """How audit rows name this person."""
        return f"user:{self.user_id}"


def principal_of(user: User) -> Principal:
    return Principal(user_id=user.id, role=Role(user.role), team_id=user.team_id, email=user.email)


def visible_user_ids(p: Principal) -> Select[Any]:
    """The people whose work this person sees: self; a manager adds the team and direct reports."""
    if p.role is Role.manager:
        who = [User.id == p.user_id, User.manager_id == p.user_id]
        if p.team_id is not None:
            who.append(User.team_id == p.team_id)
        return select(User.id).where(or_(*who))
    return select(User.id).where(User.id == p.user_id)


def leads(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.role in (Role.rep, Role.manager):
        return Lead.owner_id.in_(visible_user_ids(p))
    return false()


def deals(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.role in (Role.rep, Role.manager):
        return Deal.owner_id.in_(visible_user_ids(p))
    return Deal.account_id.in_(select(Account.id).where(Account.csm_id == p.user_id))


def accounts(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    if p.role is Role.csm:
        return Account.csm_id == p.user_id
    users = visible_user_ids(p)
    return or_(Account.account_manager_id.in_(users),
               Account.id.in_(select(Deal.account_id).where(Deal.owner_id.in_(users), Deal.account_id.is_not(None))))


def contacts(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    return or_(Contact.owner_id.in_(visible_user_ids(p)),
               Contact.account_id.in_(select(Account.id).where(accounts(p))))


def quotes(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    return or_(Quote.deal_id.in_(select(Deal.id).where(deals(p))),
               Quote.account_id.in_(select(Account.id).where(accounts(p))))


def orders(p: Principal) -> ColumnElement[bool]:
    """A sales order is seen with its deal or its account, like the quote it came from."""
    if p.is_admin:
        return true()
    return or_(SalesOrder.deal_id.in_(select(Deal.id).where(deals(p))),
               SalesOrder.account_id.in_(select(Account.id).where(accounts(p))))


def activities(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    return or_(Activity.user_id == p.user_id,
               Activity.lead_id.in_(select(Lead.id).where(leads(p))),
               Activity.deal_id.in_(select(Deal.id).where(deals(p))),
               Activity.account_id.in_(select(Account.id).where(accounts(p))),
               Activity.contact_id.in_(select(Contact.id).where(contacts(p))))


def tasks(p: Principal) -> ColumnElement[bool]:
    if p.is_admin:
        return true()
    return or_(Task.assignee_id.in_(visible_user_ids(p)), Task.created_by_id == p.user_id)


def account_rows(model: Any) -> Any:
    """Rows that hang on one account are seen exactly when the account is."""

    def clause_for(p: Principal) -> ColumnElement[bool]:
        if p.is_admin:
            return true()
        return model.account_id.in_(select(Account.id).where(accounts(p)))  # type: ignore[no-any-return]

    return clause_for


def stewarded_accounts(p: Principal) -> ColumnElement[bool]:
    """Accounts whose customer-success records this person may change: the account manager (a manager: anyone
    in the team), the account's CSM, admins. A rep who only holds a deal on the account reads but may not write."""
    if p.is_admin:
        return true()
    if p.role is Role.csm:
        return Account.csm_id == p.user_id
    return Account.account_manager_id.in_(visible_user_ids(p))


def subjects(p: Principal, type_col: Any, id_col: Any) -> ColumnElement[bool]:
    """Agent outputs and runs follow the object they are about (a lead's suggestion is seen with the lead)."""
    if p.is_admin:
        return true()
    return or_(
        (type_col == "lead") & id_col.in_(select(Lead.id).where(leads(p))),
        (type_col == "deal") & id_col.in_(select(Deal.id).where(deals(p))),
        (type_col == "account") & id_col.in_(select(Account.id).where(accounts(p))),
        (type_col == "contact") & id_col.in_(select(Contact.id).where(contacts(p))),
        (type_col == "quote") & id_col.in_(select(Quote.id).where(quotes(p))),
    )


def approvals(p: Principal) -> ColumnElement[bool]:
    """Drafts waiting for this person (or, for a manager, for the team); admins see every approval."""
    if p.is_admin:
        return true()
    users = visible_user_ids(p)
    return or_(Approval.reviewer_id.in_(users), Approval.escalated_to_id.in_(users))


CLAUSES: dict[type, Any] = {
    Lead: leads, Deal: deals, Account: accounts, Contact: contacts, Quote: quotes, Activity: activities,
    Task: tasks, Approval: approvals, SalesOrder: orders, NpsResponse: account_rows(NpsResponse),
    Ticket: account_rows(Ticket), Contract: account_rows(Contract), UsageSnapshot: account_rows(UsageSnapshot),
    Invoice: account_rows(Invoice),
}
ENTITY_NAMES: dict[type, str] = {
    Lead: "lead", Deal: "deal", Account: "account", Contact: "contact", Quote: "quote", Activity: "activity",
    Task: "task", Approval: "approval", AgentRun: "agent run", Suggestion: "suggestion", AgentScore: "score",
    Draft: "draft", SalesOrder: "sales order", NpsResponse: "nps response", Ticket: "ticket", Contract: "contract",
    UsageSnapshot: "usage snapshot", Invoice: "invoice",
}


def clause(p: Principal, model: type) -> ColumnElement[bool]:
    if model in CLAUSES:
        return CLAUSES[model](p)  # type: ignore[no-any-return]
    if model in (AgentRun, Suggestion, AgentScore, Draft):
        return subjects(p, model.subject_type, model.subject_id)  # type: ignore[attr-defined]
    raise KeyError(f"no scope for {model.__name__}")


def visible_ids(p: Principal, model: type) -> Select[Any] | None:
    """The ids of a kind this person may see, to filter another query by; None when they see every row."""
    if p.is_admin:
        return None
    return select(model.id).where(clause(p, model))  # type: ignore[attr-defined]


def get_visible(session: Session, p: Principal, model: type[T], object_id: int, *, lock: bool = False) -> T:
    """The object if this person may see it; otherwise NotFound, the same answer as for a missing id."""
    stmt = select(model).where(model.id == object_id, clause(p, model))  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(ENTITY_NAMES.get(model, model.__name__.lower()), object_id)
    return row


def is_visible(session: Session, p: Principal, model: type, object_id: int) -> bool:
    stmt = select(model.id).where(model.id == object_id, clause(p, model))  # type: ignore[attr-defined]
    return session.scalar(stmt) is not None


def list_visible(session: Session, p: Principal, model: type[T], *, filters: Sequence[ColumnElement[bool]] = (),
                 order_by: Any = None, limit: int = 100, offset: int = 0) -> Sequence[T]:
    """One page of the objects of a kind this person may see, newest id first unless told otherwise."""
    stmt = select(model).where(clause(p, model), *filters)
    if order_by is None:
        order_by = model.id.desc()  # type: ignore[attr-defined]
    stmt = stmt.order_by(*(order_by if isinstance(order_by, tuple | list) else (order_by,)))
    return session.scalars(stmt.limit(limit).offset(offset)).all()


def is_steward(session: Session, p: Principal, account_id: int) -> bool:
    stmt = select(Account.id).where(Account.id == account_id, stewarded_accounts(p))
    return session.scalar(stmt) is not None


def may_see_user(session: Session, p: Principal, user_id: int) -> bool:
    """Whether this person may name that user (e.g. as owner or assignee)."""
    if p.is_admin:
        return session.get(User, user_id) is not None
    return session.scalar(visible_user_ids(p).where(User.id == user_id)) is not None


def drafts_by_ids(session: Session, draft_ids: Sequence[int]) -> Sequence[Draft]:
    """Drafts of approvals already checked against the caller's scope (a draft is seen through its approval)."""
    if not draft_ids:
        return []
    return session.scalars(select(Draft).where(Draft.id.in_(draft_ids))).all()
