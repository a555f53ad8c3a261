"""Reads and small status writes the REST API needs that no other repository offers (pipelines, runs with
their cost, suggestions by subject, eval runs); each takes a scope clause from core/repositories/scoping.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.models import AgentRun, AgentScore, Draft, LlmCall, Pipeline, Suggestion, Task
from core.models.evals import EvalRun


def pipelines(session: Session) -> Sequence[Pipeline]:
    return session.scalars(select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.name)).all()


def runs(session: Session, scope: ColumnElement[bool], *, agent: str | None = None, status: str | None = None,
         limit: int = 50, offset: int = 0) -> Sequence[AgentRun]:
    stmt = select(AgentRun).where(scope)
    if agent:
        stmt = stmt.where(AgentRun.agent == agent)
    if status:
        stmt = stmt.where(AgentRun.status == status)
    return session.scalars(stmt.order_by(AgentRun.id.desc()).limit(limit).offset(offset)).all()


def run_costs(session: Session, run_ids: Sequence[int]) -> dict[int, float]:
    """USD per run from the LLM ledger (0 for local models and runs without calls)."""
    if not run_ids:
        return {}
    stmt = (select(LlmCall.run_id, func.coalesce(func.sum(LlmCall.cost_usd), 0))
            .where(LlmCall.run_id.in_(run_ids)).group_by(LlmCall.run_id))
    return {int(rid or 0): float(cost) for rid, cost in session.execute(stmt)}


def run_llm_calls(session: Session, run_id: int) -> Sequence[LlmCall]:
    """The run's steps that called a model, in order."""
    return session.scalars(select(LlmCall).where(LlmCall.run_id == run_id).order_by(LlmCall.id)).all()


def suggestions(session: Session, scope: ColumnElement[bool], *, subject_type: str | None, subject_id: int | None,
                status: str | None, limit: int = 100) -> Sequence[Suggestion]:
    stmt = select(Suggestion).where(scope)
    if subject_type:
        stmt = stmt.where(Suggestion.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(Suggestion.subject_id == subject_id)
    if status:
        stmt = stmt.where(Suggestion.status == status)
    return session.scalars(stmt.order_by(Suggestion.id.desc()).limit(limit)).all()


def run_outputs(session: Session, run_id: int) -> dict[str, Sequence[Any]]:
    return {
        "scores": session.scalars(select(AgentScore).where(AgentScore.run_id == run_id)).all(),
        "suggestions": session.scalars(select(Suggestion).where(Suggestion.run_id == run_id)).all(),
        "drafts": session.scalars(select(Draft).where(Draft.run_id == run_id)).all(),
        "tasks": session.scalars(select(Task).where(Task.agent_run_id == run_id)).all(),
    }


def eval_runs(session: Session, *, suite: str | None, limit: int, offset: int) -> Sequence[EvalRun]:
    stmt = select(EvalRun)
    if suite:
        stmt = stmt.where(EvalRun.suite == suite)
    return session.scalars(stmt.order_by(EvalRun.id.desc()).limit(limit).offset(offset)).all()
