"""Outbox and audit rows, written through the caller's session so they commit with the business change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import AuditLog, OutboxEvent


def add_event(session: Session, topic: str, aggregate_type: str, aggregate_id: int,
              payload: dict[str, Any] | None = None) -> OutboxEvent:
    event = OutboxEvent(topic=topic, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
                        payload=payload or {})
    session.add(event)
    return event


def add_audit(session: Session, *, actor: str, action: str, entity_type: str, entity_id: int,
              before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
              actor_id: int | None = None) -> AuditLog:
    row = AuditLog(actor=actor, actor_id=actor_id, action=action, entity_type=entity_type,
                   entity_id=entity_id, before=before, after=after)
    session.add(row)
    return row


def pending_events(session: Session, limit: int = 100) -> Sequence[OutboxEvent]:
    """Claim undispatched events; SKIP LOCKED lets several dispatchers run side by side."""
    stmt = (select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id)
            .limit(limit).with_for_update(skip_locked=True))
    return session.scalars(stmt).all()


def mark_dispatched(session: Session, ids: Sequence[int], at: datetime) -> None:
    session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(dispatched_at=at))


def events_for(session: Session, aggregate_type: str, aggregate_id: int) -> Sequence[OutboxEvent]:
    stmt = (select(OutboxEvent).where(OutboxEvent.aggregate_type == aggregate_type,
                                      OutboxEvent.aggregate_id == aggregate_id).order_by(OutboxEvent.id))
    return session.scalars(stmt).all()
