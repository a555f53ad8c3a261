"""SQL for agent outputs: insert once per idempotency key, and find what a run wrote."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.models import AgentScore, Draft, Suggestion, Task

OutputT = TypeVar("OutputT", AgentScore, Suggestion, Draft)


def insert_once(session: Session, table: type[OutputT], **fields: Any) -> tuple[OutputT, bool]:
    """(row, created): INSERT … ON CONFLICT (idempotency_key) DO NOTHING, else the row the key already made."""
    stmt = (insert(table).values(**fields).on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.id))
    new_id = session.execute(stmt).scalar()
    if new_id is not None:
        row = session.get(table, new_id)
        assert row is not None
        return row, True
    existing = session.scalars(select(table).where(table.idempotency_key == fields["idempotency_key"])).one()
    return existing, False


def of_run(session: Session, run_id: int) -> dict[str, Sequence[Any]]:
    """Every output a run wrote, by kind (for the CLI and tests)."""
    return {
        "scores": session.scalars(select(AgentScore).where(AgentScore.run_id == run_id).order_by(AgentScore.id)).all(),
        "suggestions": session.scalars(select(Suggestion).where(Suggestion.run_id == run_id)
                                       .order_by(Suggestion.id)).all(),
        "tasks": session.scalars(select(Task).where(Task.agent_run_id == run_id).order_by(Task.id)).all(),
        "drafts": session.scalars(select(Draft).where(Draft.run_id == run_id).order_by(Draft.id)).all(),
    }


def written_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these idempotency keys already name a draft or a task: an agent's window (a nudge, a reminder, a
    reply) is done once its output exists, whatever its review decided."""
    if not keys:
        return set()
    drafts = session.scalars(select(Draft.idempotency_key).where(Draft.idempotency_key.in_(list(keys)))).all()
    tasks = session.scalars(select(Task.idempotency_key).where(Task.idempotency_key.in_(list(keys)))).all()
    return {k for k in (*drafts, *tasks) if k is not None}
