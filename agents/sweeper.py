"""The sweeper: re-sends runs whose message was lost and fails runs whose worker went silent.

A queued run older than `run_stuck_after_s` gets a new message (at most one per period; a duplicate is harmless,
the claim lets one through). A running run without a heartbeat for `run_stuck_after_s` is failed; if its message
comes back later (visibility timeout), the claim refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from agents.enqueue import Enqueue, enqueue_all
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.repositories import dispatch as dispatch_repo


@dataclass
class SweepResult:
    failed: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    enqueued: int = 0
    enqueue_error: str | None = None


def sweep_runs(session: Session, now: datetime, settings: Settings) -> SweepResult:
    """Fail silent running runs and pick stale queued ones to re-send, in the caller's transaction."""
    limit = timedelta(seconds=settings.run_stuck_after_s)
    error = (f"stuck: no heartbeat for {settings.run_stuck_after_s} s (worker lost or hung); "
             "the sweeper failed it")
    failed = dispatch_repo.fail_stuck(session, before=now - limit, now=now, error=error)
    requeued = dispatch_repo.requeue_stale(session, before=now - limit, now=now)
    return SweepResult(failed=list(failed), requeued=requeued)


def sweep(enqueue: Enqueue, *, now: datetime | None = None, settings: Settings | None = None) -> SweepResult:
    """One pass; owns its transaction and enqueues only after it committed."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    with session_scope() as session:
        result = sweep_runs(session, now, settings)
    result.enqueued, result.enqueue_error = enqueue_all(result.requeued, enqueue)
    return result
