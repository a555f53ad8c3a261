"""SQL for agent runs: create with a dedupe key, claim, heartbeat, finish, and find stuck or comparable runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.models import AgentRun, LlmCall

FINAL_STATUSES = ("succeeded", "failed", "skipped")


def insert_run(session: Session, **fields: Any) -> AgentRun | None:
    """INSERT … ON CONFLICT DO NOTHING on (agent, dedupe_key): None when that key already made a run."""
    stmt = (insert(AgentRun).values(**fields)
            .on_conflict_do_nothing(index_elements=["agent", "dedupe_key"],
                                    index_where=AgentRun.dedupe_key.is_not(None))
            .returning(AgentRun.id))
    run_id = session.execute(stmt).scalar()
    if run_id is None:
        return None
    return session.get(AgentRun, run_id)


def by_dedupe_key(session: Session, agent: str, dedupe_key: str) -> AgentRun | None:
    return session.scalars(select(AgentRun).where(AgentRun.agent == agent,
                                                  AgentRun.dedupe_key == dedupe_key)).first()


def get(session: Session, run_id: int) -> AgentRun | None:
    return session.get(AgentRun, run_id, populate_existing=True)


def claim(session: Session, run_id: int, task_id: str | None, now: datetime) -> AgentRun | None:
    """Queued -> running; a redelivered message (same task id) re-claims the run it was already running."""
    own = and_(AgentRun.status == "running", AgentRun.task_id == task_id) if task_id else None
    allowed = or_(AgentRun.status == "queued", own) if own is not None else AgentRun.status == "queued"
    stmt = (update(AgentRun).where(AgentRun.id == run_id, allowed)
            .values(status="running", task_id=task_id, attempts=AgentRun.attempts + 1,
                    started_at=func.coalesce(AgentRun.started_at, now), heartbeat_at=now, error=None)
            .returning(AgentRun.id))
    claimed = session.execute(stmt).scalar()
    return get(session, claimed) if claimed is not None else None


def claim_waiting(session: Session, run_id: int, now: datetime) -> AgentRun | None:
    """waiting_review -> running, so two resumes of one paused run cannot both continue it.

    The task id is cleared: the message that paused the run must not re-claim it while a resume is under way.
    """
    stmt = (update(AgentRun).where(AgentRun.id == run_id, AgentRun.status == "waiting_review")
            .values(status="running", heartbeat_at=now, task_id=None).returning(AgentRun.id))
    claimed = session.execute(stmt).scalar()
    return get(session, claimed) if claimed is not None else None


def heartbeat(session: Session, run_id: int, now: datetime) -> bool:
    stmt = (update(AgentRun).where(AgentRun.id == run_id, AgentRun.status == "running")
            .values(heartbeat_at=now).returning(AgentRun.id))
    return session.execute(stmt).scalar() is not None


def set_input_hash(session: Session, run_id: int, input_hash: str) -> None:
    session.execute(update(AgentRun).where(AgentRun.id == run_id).values(input_hash=input_hash))


def set_status(session: Session, run_id: int, status: str, *, now: datetime, from_statuses: Sequence[str],
               **fields: Any) -> bool:
    """Move a run on only from the statuses it may leave (a run the sweeper failed stays failed)."""
    values: dict[str, Any] = {"status": status, "heartbeat_at": now, **fields}
    if status in FINAL_STATUSES:
        values["finished_at"] = now
    stmt = (update(AgentRun).where(AgentRun.id == run_id, AgentRun.status.in_(tuple(from_statuses)))
            .values(**values).returning(AgentRun.id))
    return session.execute(stmt).scalar() is not None


def latest_comparable(session: Session, run: AgentRun) -> AgentRun | None:
    """The newest other run of this agent on this subject that produced outputs (succeeded or waiting)."""
    stmt = (select(AgentRun)
            .where(AgentRun.agent == run.agent, AgentRun.subject_type == run.subject_type,
                   AgentRun.subject_id == run.subject_id if run.subject_id is not None
                   else AgentRun.subject_id.is_(None),
                   AgentRun.id != run.id, AgentRun.status.in_(("succeeded", "waiting_review")))
            .order_by(AgentRun.finished_at.desc().nulls_first(), AgentRun.id.desc()).limit(1))
    return session.scalars(stmt).first()


def llm_totals(session: Session, run_id: int) -> dict[str, Any]:
    """Token, call and latency totals of a run's model calls, with the prompts and the last model used."""
    row = session.execute(
        select(func.count(LlmCall.id), func.coalesce(func.sum(LlmCall.input_tokens), 0),
               func.coalesce(func.sum(LlmCall.output_tokens), 0), func.coalesce(func.sum(LlmCall.latency_ms), 0))
        .where(LlmCall.run_id == run_id)).one()
    refs = session.scalars(select(LlmCall.prompt_ref).where(LlmCall.run_id == run_id, LlmCall.prompt_ref.is_not(None))
                           .group_by(LlmCall.prompt_ref).order_by(func.min(LlmCall.id))).all()
    model = session.scalars(select(LlmCall.model).where(LlmCall.run_id == run_id)
                            .order_by(LlmCall.id.desc()).limit(1)).first()
    return {"llm_calls": int(row[0]), "input_tokens": int(row[1]), "output_tokens": int(row[2]),
            "model_ms": int(row[3]), "prompt_refs": [r for r in refs if r], "model": model}


def stuck(session: Session, *, running_before: datetime, queued_before: datetime,
          limit: int = 100) -> Sequence[AgentRun]:
    """Runs whose heartbeat stopped (running) or whose message never arrived (queued), oldest first."""
    stmt = (select(AgentRun)
            .where(or_(and_(AgentRun.status == "running",
                            func.coalesce(AgentRun.heartbeat_at, AgentRun.started_at, AgentRun.queued_at)
                            < running_before),
                       and_(AgentRun.status == "queued", AgentRun.queued_at < queued_before)))
            .order_by(AgentRun.id).limit(limit))
    return session.scalars(stmt).all()


def listing(session: Session, *, agent: str | None = None, status: str | None = None,
            limit: int = 20) -> Sequence[AgentRun]:
    stmt = select(AgentRun).order_by(AgentRun.id.desc()).limit(limit)
    if agent:
        stmt = stmt.where(AgentRun.agent == agent)
    if status:
        stmt = stmt.where(AgentRun.status == status)
    return session.scalars(stmt).all()
