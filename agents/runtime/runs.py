"""Run lifecycle used by the dispatcher, schedules, the executor and the sweeper; callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.errors import InvalidInput, NotFound
from core.models import AgentRun
from core.repositories import runs as repo

TRIGGERS = ("schedule", "event", "manual")
ERROR_MAX_CHARS = 2000


def create_run(session: Session, agent: str, trigger: str, subject_type: str | None, subject_id: int | None,
               dedupe_key: str | None = None, event_id: int | None = None) -> AgentRun | None:
    """A queued run; None when `dedupe_key` already made a run of this agent (an event or slot runs once)."""
    if trigger not in TRIGGERS:
        raise InvalidInput("trigger", f"expected one of {', '.join(TRIGGERS)}, got {trigger!r}")
    if not agent:
        raise InvalidInput("agent", "a run needs an agent name")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= 200:
        raise InvalidInput("dedupe_key", "must be 1 to 200 characters")
    return repo.insert_run(session, agent=agent, trigger=trigger, subject_type=subject_type, subject_id=subject_id,
                           dedupe_key=dedupe_key, event_id=event_id, status="queued")


def get_run(session: Session, run_id: int) -> AgentRun:
    run = repo.get(session, run_id)
    if run is None:
        raise NotFound("agent run", run_id)
    return run


def claim_run(session: Session, run_id: int, task_id: str | None, now: datetime) -> AgentRun | None:
    """The run, now `running` and owned by `task_id`; None when another worker has it or it is finished."""
    return repo.claim(session, run_id, task_id, now)


def heartbeat(session: Session, run_id: int, now: datetime) -> bool:
    """Tell the sweeper the run is alive; False when the run is no longer running (e.g. the sweeper failed it)."""
    return repo.heartbeat(session, run_id, now)


def finish_run(session: Session, run_id: int, now: datetime, *, status: str = "succeeded",
               **totals: Any) -> bool:
    """running -> succeeded or waiting_review, with the run's model totals and summary."""
    if status not in ("succeeded", "waiting_review"):
        raise InvalidInput("status", f"a run finishes as succeeded or waiting_review, not {status!r}")
    return repo.set_status(session, run_id, status, now=now, from_statuses=("running",), **totals)


def fail_run(session: Session, run_id: int, now: datetime, error: str, **totals: Any) -> bool:
    """A run that cannot go on: the error is a message for the operator, never a traceback."""
    return repo.set_status(session, run_id, "failed", now=now, from_statuses=("queued", "running"),
                           error=error[:ERROR_MAX_CHARS], **totals)


def requeue_run(session: Session, run_id: int, now: datetime, note: str) -> bool:
    """Running -> queued for another try (a lost database connection); the note says why until it is claimed.

    The task id is cleared so any claim may take it; `heartbeat_at` = now, so the sweeper re-sends it only if the
    retry message is lost too."""
    return repo.set_status(session, run_id, "queued", now=now, from_statuses=("running",),
                           error=note[:ERROR_MAX_CHARS], task_id=None)


def skip_run(session: Session, run_id: int, now: datetime, reason: str) -> bool:
    """Nothing to do (e.g. unchanged input): finished without a model call or an output."""
    return repo.set_status(session, run_id, "skipped", now=now, from_statuses=("queued", "running"),
                           summary={"skipped": reason})


def stuck_runs(session: Session, now: datetime, settings: Settings | None = None, *,
               queued_after_s: int | None = None, limit: int = 100) -> Sequence[AgentRun]:
    """Runs running without a heartbeat, or still queued, for longer than the configured limit."""
    s = settings or get_settings()
    running_before = now - timedelta(seconds=s.run_stuck_after_s)
    queued_before = now - timedelta(seconds=s.run_stuck_after_s if queued_after_s is None else queued_after_s)
    return repo.stuck(session, running_before=running_before, queued_before=queued_before, limit=limit)


def list_runs(session: Session, *, agent: str | None = None, status: str | None = None,
              limit: int = 20) -> Sequence[AgentRun]:
    return repo.listing(session, agent=agent, status=status, limit=limit)
