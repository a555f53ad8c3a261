"""People's writes of customer-success records: support tickets, contracts and product-usage snapshots.

The Customer Health Monitor, renewals, NPS survey and Upsell/Expansion agents read these rows on their schedules
(no agent listens to a ticket, contract or usage topic), so these writes leave audit rows but no outbox event.
NPS answers and payments, which agents do react to, go through `core.services.engagement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput
from core.models import Account, Contact, Contract, Deal, Ticket, UsageSnapshot
from core.models.enums import ContractStatus, Role, TicketPriority, TicketStatus
from core.repositories import events, scoping
from core.repositories import success as repo
from core.repositories.scoping import Principal
from core.services.auth import Forbidden
from core.services.references import ensure_of_account
from core.services.snapshot import snapshot
from core.services.updates import update_fields

# Hours from opening to the first-resolution deadline; the seeder (core/seeding/vocab.py) uses the same table.
SLA_HOURS = {TicketPriority.urgent: 4, TicketPriority.high: 8, TicketPriority.normal: 24, TicketPriority.low: 72}
RESOLVED = (TicketStatus.solved, TicketStatus.closed)
# closed is final; a solved ticket may be reopened (the customer wrote back) or closed.
NEXT_STATUS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    TicketStatus.open: (TicketStatus.pending, TicketStatus.solved, TicketStatus.closed),
    TicketStatus.pending: (TicketStatus.open, TicketStatus.solved, TicketStatus.closed),
    TicketStatus.solved: (TicketStatus.open, TicketStatus.closed),
    TicketStatus.closed: (),
}


def ensure_steward(session: Session, user: Principal, account_id: int) -> None:
    """Seeing an account is not enough to change its customer-success records: only the people who look after
    it do (its account manager or their manager, its CSM, admins); the API and the pages ask the same question.
    The caller has already checked that the account is visible (else it is a 404, not a 403)."""
    if not scoping.is_steward(session, user, account_id):
        raise Forbidden(f"only account {account_id}'s account manager, their manager, its CSM or an admin may "
                        f"change its customer-success records")


def default_assignee(user: Principal, account: Account) -> int | None:
    """A CSM opening a ticket works it; anyone else hands it to the account's CSM."""
    return user.user_id if user.role is Role.csm else account.csm_id


def _not_null(changes: dict[str, Any], fields: Sequence[str]) -> None:
    for key in fields:
        if key in changes and changes[key] is None:
            raise InvalidInput(key, "must not be null")


def _created(session: Session, row: Any, entity_type: str, actor: str, actor_id: int | None) -> None:
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type=entity_type,
                     entity_id=row.id, after=snapshot(row))


def open_ticket(session: Session, *, account_id: int, subject: str, actor: str, actor_id: int | None = None,
                description: str | None = None, priority: TicketPriority = TicketPriority.normal,
                contact_id: int | None = None, assignee_id: int | None = None, opened_at: datetime | None = None,
                sla_due_at: datetime | None = None) -> Ticket:
    """The SLA deadline follows the priority unless the caller agreed another one with the customer."""
    opened = opened_at or datetime.now(UTC)
    if sla_due_at is not None and sla_due_at < opened:
        raise InvalidInput("sla_due_at", "the SLA deadline cannot be before the ticket was opened")
    ensure_of_account(session, Contact, contact_id, account_id)
    ticket = Ticket(account_id=account_id, contact_id=contact_id, subject=subject, description=description,
                    priority=priority.value, status=TicketStatus.open, opened_at=opened, assignee_id=assignee_id,
                    sla_due_at=sla_due_at or opened + timedelta(hours=SLA_HOURS[priority]))
    session.add(ticket)
    session.flush()
    _created(session, ticket, "ticket", actor, actor_id)
    return ticket


def update_ticket(session: Session, ticket: Ticket, changes: dict[str, Any], *, actor: str,
                  actor_id: int | None = None, now: datetime | None = None) -> Ticket:
    """Status moves follow NEXT_STATUS; resolving stamps resolved_at, reopening clears it and the rating (the
    customer's satisfaction was about a resolution that did not hold); a rating needs a resolved ticket."""
    changes = dict(changes)
    _not_null(changes, ("subject", "priority", "status"))
    current = TicketStatus(ticket.status)
    status = TicketStatus(changes.get("status") or current)
    if current is TicketStatus.closed and any(getattr(ticket, k) != v for k, v in changes.items()):
        raise Conflict(f"ticket {ticket.id} is closed; closed tickets are final", field=next(iter(changes)))
    if status is not current and status not in NEXT_STATUS[current]:
        allowed = ", ".join(s.value for s in NEXT_STATUS[current])
        raise Conflict(f"ticket {ticket.id} is {current.value}; it may move to {allowed}", field="status")
    if changes.get("satisfaction") is not None and status not in RESOLVED:
        raise InvalidInput("satisfaction", "a ticket is rated once it is solved or closed")
    if status is not current:
        if status in RESOLVED:
            changes["resolved_at"] = ticket.resolved_at or now or datetime.now(UTC)
        elif current in RESOLVED:
            changes |= {"resolved_at": None, "satisfaction": None}
    if "priority" in changes:
        priority = TicketPriority(changes["priority"])
        changes["priority"] = priority.value
        if status not in RESOLVED and priority.value != ticket.priority:
            changes["sla_due_at"] = ticket.opened_at + timedelta(hours=SLA_HOURS[priority])
    if "status" in changes:
        changes["status"] = status
    update_fields(session, ticket, changes, entity_type="ticket", actor=actor, actor_id=actor_id)
    return ticket


def _check_term(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput("end_date", f"the contract ends ({end}) before it starts ({start})")


def create_contract(session: Session, *, account_id: int, plan: str, start_date: date, end_date: date, arr: Decimal,
                    currency: str, actor: str, actor_id: int | None = None, seat_limit: int | None = None,
                    auto_renew: bool = False, deal_id: int | None = None,
                    status: ContractStatus = ContractStatus.active) -> Contract:
    _check_term(start_date, end_date)
    ensure_of_account(session, Deal, deal_id, account_id)
    contract = Contract(account_id=account_id, plan=plan, start_date=start_date, end_date=end_date, arr=arr,
                        currency=currency.upper(), seat_limit=seat_limit, auto_renew=auto_renew, deal_id=deal_id,
                        status=status)
    session.add(contract)
    session.flush()
    _created(session, contract, "contract", actor, actor_id)
    return contract


def update_contract(session: Session, contract: Contract, changes: dict[str, Any], *, actor: str,
                    actor_id: int | None = None) -> Contract:
    """The term is checked as it will be after the edit (moving only the start past the end is refused too)."""
    _not_null(changes, ("plan", "start_date", "end_date", "arr", "auto_renew", "status"))
    _check_term(changes.get("start_date", contract.start_date), changes.get("end_date", contract.end_date))
    if "deal_id" in changes:
        ensure_of_account(session, Deal, changes["deal_id"], contract.account_id)
    update_fields(session, contract, changes, entity_type="contract", actor=actor, actor_id=actor_id)
    return contract


def record_usage(session: Session, *, account_id: int, captured_on: date, actor: str, actor_id: int | None = None,
                 logins: int = 0, active_users: int = 0, seats_used: int = 0,
                 features_adopted: Sequence[str] = ()) -> UsageSnapshot:
    """One snapshot per account and day (the health and upsell signals read the latest days); a second one for
    the same day is a conflict, not a silent overwrite of what the agents may already have scored."""
    if repo.usage_snapshot_exists(session, account_id, captured_on):
        raise Conflict(f"account {account_id} already has a usage snapshot for {captured_on}", field="captured_on")
    features = list(dict.fromkeys(f.strip() for f in features_adopted if f.strip()))
    row = UsageSnapshot(account_id=account_id, captured_on=captured_on, logins=logins, active_users=active_users,
                        seats_used=seats_used, features_adopted=features)
    session.add(row)
    session.flush()
    _created(session, row, "usage_snapshot", actor, actor_id)
    return row
