"""Suggestions for people: list them, and claim one for a decision so only one person's decision applies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Suggestion


def listing(session: Session, *, subject_type: str | None = None, subject_id: int | None = None,
            status: str | None = "open", agent: str | None = None, limit: int = 100) -> Sequence[Suggestion]:
    stmt = select(Suggestion).order_by(Suggestion.created_at.desc(), Suggestion.id.desc()).limit(limit)
    if subject_type is not None:
        stmt = stmt.where(Suggestion.subject_type == subject_type)
    if subject_id is not None:
        stmt = stmt.where(Suggestion.subject_id == subject_id)
    if status is not None:
        stmt = stmt.where(Suggestion.status == status)
    if agent is not None:
        stmt = stmt.where(Suggestion.agent == agent)
    return session.scalars(stmt).all()


def claim_open(session: Session, suggestion_id: int, status: str, user_id: int, at: datetime) -> Suggestion | None:
    """open -> `status` in one UPDATE … WHERE status = 'open': of two people deciding at once, one wins."""
    stmt = (update(Suggestion).where(Suggestion.id == suggestion_id, Suggestion.status == "open")
            .values(status=status, decided_at=at, decided_by_id=user_id).returning(Suggestion.id))
    claimed = session.execute(stmt).scalar()
    if claimed is None:
        return None
    row = session.get(Suggestion, claimed)
    if row is not None:
        session.refresh(row)
    return row
