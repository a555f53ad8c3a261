"""Queries of the NPS Follow-up and survey agents: a response with who answered it and who looks after the
account, outputs already written, contracts with survey milestones, reachable contacts, and the inbox with the
customer's comment beside each draft."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

from core.models import Account, Approval, Contact, ContactEmail, Contract, Draft, NpsResponse, NpsSurvey, User
from core.models.enums import ContractStatus


def _email() -> Any:
    return (select(ContactEmail.email).where(ContactEmail.contact_id == Contact.id)
            .order_by(ContactEmail.is_primary.desc(), ContactEmail.id).limit(1).correlate(Contact).scalar_subquery())


def response_facts(session: Session, response_id: int) -> dict[str, Any] | None:
    """The response, its account (with CSM / account manager), the contact who answered and their address."""
    csm = aliased(User)
    stmt = (select(NpsResponse.id, NpsResponse.score, NpsResponse.category, NpsResponse.comment,
                   NpsResponse.responded_at, NpsResponse.survey_id, NpsResponse.account_id,
                   Account.name.label("account_name"), Account.industry, Account.blacklisted,
                   Account.csm_id, Account.account_manager_id, NpsResponse.contact_id,
                   Contact.first_name, Contact.last_name, Contact.language, Contact.email_consent,
                   Contact.unsubscribed_at, Contact.owner_id.label("contact_owner_id"), _email().label("email"),
                   csm.full_name.label("csm_name"), csm.email.label("csm_email"),
                   NpsSurvey.milestone.label("survey_milestone"))
            .join(Account, Account.id == NpsResponse.account_id)
            .outerjoin(Contact, Contact.id == NpsResponse.contact_id)
            .outerjoin(csm, csm.id == Account.csm_id)
            .outerjoin(NpsSurvey, NpsSurvey.id == NpsResponse.survey_id)
            .where(NpsResponse.id == response_id))
    row = session.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def user_name(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.full_name).where(User.id == user_id)) if user_id is not None else None



# --- survey scheduling ----------------------------------------------------------------------------------------

def contracts_in_term(session: Session, today: date, contract_ids: Sequence[int] | None = None
                      ) -> list[dict[str, Any]]:
    """Active contracts whose term covers `today` (or the given ones), with their account."""
    stmt = (select(Contract.id, Contract.account_id, Contract.plan, Contract.start_date, Contract.end_date,
                   Contract.status, Account.name.label("account_name"), Account.blacklisted, Account.csm_id,
                   Account.account_manager_id, Account.tags.label("account_tags"))
            .join(Account, Account.id == Contract.account_id).order_by(Contract.id))
    if contract_ids is None:
        stmt = stmt.where(Contract.status == ContractStatus.active, Contract.start_date <= today,
                          Contract.end_date >= today)
    else:
        stmt = stmt.where(Contract.id.in_(list(contract_ids)))
    return [dict(row._mapping) for row in session.execute(stmt)]


def survey_names(session: Session, names: Sequence[str]) -> set[str]:
    if not names:
        return set()
    return set(session.scalars(select(NpsSurvey.name).where(NpsSurvey.name.in_(list(names)))).all())


def insert_survey_once(session: Session, name: str, milestone: str) -> tuple[NpsSurvey, bool]:
    """(survey, created): the unique name makes a repeated schedule find the survey it already made."""
    new_id = session.execute(insert(NpsSurvey).values(name=name, milestone=milestone)
                             .on_conflict_do_nothing(index_elements=["name"]).returning(NpsSurvey.id)).scalar()
    if new_id is not None:
        survey = session.get(NpsSurvey, new_id)
        assert survey is not None
        return survey, True
    return session.scalars(select(NpsSurvey).where(NpsSurvey.name == name)).one(), False


def account_contacts(session: Session, account_id: int) -> list[dict[str, Any]]:
    """Every contact of the account with the fields that decide whether we may mail them."""
    stmt = (select(Contact.id, Contact.first_name, Contact.language, Contact.email_consent,
                   (Contact.unsubscribed_at.is_not(None)).label("unsubscribed"), _email().label("email"))
            .where(Contact.account_id == account_id).order_by(Contact.id))
    return [dict(row._mapping) for row in session.execute(stmt)]


# --- inbox ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InboxItem:
    approval_id: int
    agent: str
    recipient: str
    subject: str
    body: str
    reviewer_id: int | None
    escalated_to_id: int | None
    due_at: datetime
    expires_at: datetime
    score: int | None  # the NPS answer the draft replies to (None: not an NPS reply)
    category: str | None
    comment: str | None


def inbox(session: Session, reviewer_id: int | None, *, everyone: bool = False, agent: str | None = None,
          limit: int = 100) -> list[InboxItem]:
    """Pending approvals (the reviewer's, the unassigned ones, or all), most urgent first, each with the NPS
    answer its draft replies to when it replies to one."""
    stmt = (select(Approval.id.label("approval_id"), Draft.agent, Draft.recipient, Draft.subject, Draft.body,
                   Approval.reviewer_id, Approval.escalated_to_id, Approval.due_at, Approval.expires_at,
                   NpsResponse.score, NpsResponse.category, NpsResponse.comment)
            .join(Draft, Draft.id == Approval.draft_id)
            .outerjoin(NpsResponse, and_(Draft.subject_type == "nps_response", NpsResponse.id == Draft.subject_id))
            .where(Approval.status == "pending")
            .order_by(Approval.due_at, Approval.id).limit(limit))
    if not everyone:
        stmt = stmt.where(or_(Approval.reviewer_id == reviewer_id, Approval.escalated_to_id == reviewer_id)
                          if reviewer_id is not None else Approval.reviewer_id.is_(None))
    if agent is not None:
        stmt = stmt.where(Draft.agent == agent)
    return [InboxItem(**row._asdict()) for row in session.execute(stmt)]


def recent_commented_responses(session: Session, limit: int) -> list[int]:
    """The latest answers with a comment: what the demo shows the NPS Follow-up agent answering."""
    stmt = (select(NpsResponse.id).where(NpsResponse.comment.is_not(None), NpsResponse.comment != "")
            .order_by(NpsResponse.responded_at.desc(), NpsResponse.id.desc()).limit(limit))
    return list(session.scalars(stmt))
