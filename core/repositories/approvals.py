"""SQL for approvals: one per draft, claimed with a conditional UPDATE so only one decision resumes a graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.models import Account, AgentRun, Approval, Contact, Draft, User

FINAL = ("approved", "edited", "rejected", "expired")


def insert_once(session: Session, **fields: Any) -> tuple[Approval, bool]:
    """(approval, created): INSERT … ON CONFLICT (draft_id) DO NOTHING, else the draft's existing approval."""
    stmt = insert(Approval).values(**fields).on_conflict_do_nothing(index_elements=["draft_id"]).returning(Approval.id)
    new_id = session.execute(stmt).scalar()
    row = session.get(Approval, new_id) if new_id is not None else by_draft(session, fields["draft_id"])
    assert row is not None
    return row, new_id is not None


def get(session: Session, approval_id: int, *, lock: bool = False) -> Approval | None:
    return session.get(Approval, approval_id, populate_existing=True, with_for_update=lock or None)


def by_draft(session: Session, draft_id: int) -> Approval | None:
    return session.scalars(select(Approval).where(Approval.draft_id == draft_id)
                           .execution_options(populate_existing=True)).first()


def claim(session: Session, approval_id: int, *, decided_by_id: int | None, decision: dict[str, Any],
          now: datetime) -> Approval | None:
    """pending -> resuming with the decision; None when someone else already claimed or finished it."""
    stmt = (update(Approval).where(Approval.id == approval_id, Approval.status == "pending")
            .values(status="resuming", decided_at=now, decided_by_id=decided_by_id, decision=decision)
            .returning(Approval.id))
    claimed = session.execute(stmt).scalar()
    return get(session, claimed) if claimed is not None else None


def release(session: Session, approval_id: int) -> bool:
    """resuming -> pending, when the graph could not be resumed: the decision can be taken again."""
    stmt = (update(Approval).where(Approval.id == approval_id, Approval.status == "resuming")
            .values(status="pending", decided_at=None, decided_by_id=None, decision={}, interrupt_id=None)
            .returning(Approval.id))
    return session.execute(stmt).scalar() is not None


def set_interrupt(session: Session, approval_id: int, interrupt_id: str) -> None:
    session.execute(update(Approval).where(Approval.id == approval_id).values(interrupt_id=interrupt_id))


def adopt(session: Session, approval_id: int, run_id: int) -> None:
    """A later run of the same draft waits for the decision now (the earlier run failed before it came)."""
    session.execute(update(Approval).where(Approval.id == approval_id)
                    .values(run_id=run_id, interrupt_id=None))


def due_for_escalation(session: Session, now: datetime, limit: int = 100) -> Sequence[Approval]:
    """Pending approvals past their due time and not yet escalated, locked (SKIP LOCKED: parallel checkers)."""
    stmt = (select(Approval).where(Approval.status == "pending", Approval.due_at <= now,
                                   Approval.escalated_at.is_(None))
            .order_by(Approval.due_at, Approval.id).limit(limit).with_for_update(skip_locked=True))
    return session.scalars(stmt).all()


def mark_escalated(session: Session, approval: Approval, to_id: int | None, now: datetime) -> None:
    approval.escalated_at, approval.escalated_to_id = now, to_id
    session.flush()


def past_expiry(session: Session, now: datetime, limit: int = 100) -> list[int]:
    stmt = (select(Approval.id).where(Approval.status == "pending", Approval.expires_at <= now)
            .order_by(Approval.expires_at, Approval.id).limit(limit))
    return list(session.scalars(stmt))


def stale_claims(session: Session, claimed_before: datetime, limit: int = 100) -> list[int]:
    """Approvals claimed (resuming) long ago whose run is not running: the deciding process died before resuming,
    or the run failed before applying the decision."""
    stmt = (select(Approval.id).join(AgentRun, AgentRun.id == Approval.run_id)
            .where(Approval.status == "resuming", Approval.decided_at < claimed_before,
                   AgentRun.status != "running")
            .order_by(Approval.decided_at, Approval.id).limit(limit))
    return list(session.scalars(stmt))


def run_status(session: Session, run_id: int) -> str | None:
    return session.scalar(select(AgentRun.status).where(AgentRun.id == run_id))


def user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def account_of(session: Session, account_id: int | None, contact_id: int | None) -> Account | None:
    """The account a draft is about: named directly, or the recipient contact's account."""
    if account_id is None and contact_id is not None:
        account_id = session.scalar(select(Contact.account_id).where(Contact.id == contact_id))
    return session.get(Account, account_id) if account_id is not None else None


def contact_owner(session: Session, contact_id: int | None) -> int | None:
    if contact_id is None:
        return None
    return session.scalar(select(Contact.owner_id).where(Contact.id == contact_id))


@dataclass(frozen=True)
class InboxRow:
    approval_id: int
    status: str
    draft_id: int
    run_id: int
    agent: str
    recipient: str
    subject: str
    body: str
    reviewer_id: int | None
    escalated_to_id: int | None
    due_at: datetime
    expires_at: datetime
    created_at: datetime


def inbox(session: Session, reviewer_id: int | None, limit: int = 100) -> list[InboxRow]:
    """Pending approvals a person must decide (assigned to them or escalated to them), the most urgent first;
    with no reviewer: the unassigned ones."""
    who = (or_(Approval.reviewer_id == reviewer_id, Approval.escalated_to_id == reviewer_id)
           if reviewer_id is not None else Approval.reviewer_id.is_(None))
    stmt = (select(Approval.id.label("approval_id"), Approval.status, Draft.id.label("draft_id"), Approval.run_id,
                   Draft.agent, Draft.recipient, Draft.subject, Draft.body, Approval.reviewer_id,
                   Approval.escalated_to_id, Approval.due_at, Approval.expires_at, Approval.created_at)
            .join(Draft, Draft.id == Approval.draft_id)
            .where(Approval.status == "pending", who)
            .order_by(Approval.due_at, Approval.id).limit(limit))
    return [InboxRow(**row._asdict()) for row in session.execute(stmt)]

