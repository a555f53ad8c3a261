"""SQL of the event dispatcher and the run sweeper: failed outbox rows, lost messages, stuck runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.models import AgentRun, OutboxEvent


def record_event_error(session: Session, event_id: int, error: str, *, give_up_at: datetime | None) -> int:
    """Count a failed dispatch; with `give_up_at` the row is closed (dispatched) and keeps its last error."""
    values: dict[str, object] = {"attempts": OutboxEvent.attempts + 1, "last_error": error}
    if give_up_at is not None:
        values["dispatched_at"] = give_up_at
    stmt = update(OutboxEvent).where(OutboxEvent.id == event_id).values(**values).returning(OutboxEvent.attempts)
    return int(session.execute(stmt).scalar_one())


def event_attempts(session: Session, event_id: int) -> int:
    return int(session.execute(select(OutboxEvent.attempts).where(OutboxEvent.id == event_id)).scalar_one())


def pending_event_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(OutboxEvent)
                               .where(OutboxEvent.dispatched_at.is_(None))).scalar_one())


def requeue_stale(session: Session, *, before: datetime, now: datetime, limit: int = 500) -> list[int]:
    """Queued runs not enqueued since `before`: stamp them (at most one new message per period) and return them.

    `heartbeat_at` of a queued run records its last re-enqueue; SKIP LOCKED keeps two sweepers apart.
    """
    stale = (select(AgentRun.id)
             .where(AgentRun.status == "queued",
                    func.coalesce(AgentRun.heartbeat_at, AgentRun.queued_at) < before)
             .order_by(AgentRun.id).limit(limit).with_for_update(skip_locked=True))
    stmt = (update(AgentRun).where(AgentRun.id.in_(stale.scalar_subquery()))
            .values(heartbeat_at=now).returning(AgentRun.id))
    return sorted(session.execute(stmt).scalars().all())


def fail_stuck(session: Session, *, before: datetime, now: datetime, error: str, limit: int = 500) -> Sequence[int]:
    """Running runs silent since `before` -> failed, in one conditional UPDATE (a fresh heartbeat wins the race)."""
    silent = func.coalesce(AgentRun.heartbeat_at, AgentRun.started_at, AgentRun.queued_at) < before
    stuck = (select(AgentRun.id).where(AgentRun.status == "running", silent)
             .order_by(AgentRun.id).limit(limit).with_for_update(skip_locked=True))
    stmt = (update(AgentRun).where(AgentRun.id.in_(stuck.scalar_subquery()), AgentRun.status == "running", silent)
            .values(status="failed", error=error, finished_at=now).returning(AgentRun.id))
    return sorted(session.execute(stmt).scalars().all())


def queued_run(session: Session, agent: str, subject_type: str, subject_id: int) -> int | None:
    """A run of this agent on this subject that has not started: it will read the newest data anyway."""
    stmt = (select(AgentRun.id).where(AgentRun.agent == agent, AgentRun.subject_type == subject_type,
                                      AgentRun.subject_id == subject_id, AgentRun.status == "queued")
            .order_by(AgentRun.id).limit(1))
    return session.execute(stmt).scalar()
