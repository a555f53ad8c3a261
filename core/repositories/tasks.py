"""Task lookups."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Task


def by_idempotency_key(session: Session, key: str) -> Task | None:
    return session.scalars(select(Task).where(Task.idempotency_key == key)).first()
