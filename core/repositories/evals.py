"""SQL for eval runs and their per-case results (used by the evals package)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import EvalCaseResult, EvalFeedbackCase, EvalRun


def add_run(session: Session, **fields: Any) -> EvalRun:
    row = EvalRun(**fields)
    session.add(row)
    session.flush()
    return row


def add_case_result(session: Session, **fields: Any) -> EvalCaseResult:
    row = EvalCaseResult(**fields)
    session.add(row)
    return row


def get_run(session: Session, run_id: int) -> EvalRun | None:
    return session.get(EvalRun, run_id)


def case_results(session: Session, run_id: int) -> Sequence[EvalCaseResult]:
    stmt = select(EvalCaseResult).where(EvalCaseResult.run_id == run_id).order_by(EvalCaseResult.position)
    return session.scalars(stmt).all()


def recent_runs(session: Session, suite: str | None = None, limit: int = 20) -> Sequence[EvalRun]:
    stmt = select(EvalRun).where(EvalRun.status == "done")
    if suite is not None:
        stmt = stmt.where(EvalRun.suite == suite)
    return session.scalars(stmt.order_by(EvalRun.id.desc()).limit(limit)).all()


def baseline_run(session: Session, suite: str, mode: str) -> EvalRun | None:
    stmt = select(EvalRun).where(EvalRun.suite == suite, EvalRun.mode == mode, EvalRun.is_baseline)
    return session.scalars(stmt).one_or_none()


def set_baseline(session: Session, run: EvalRun) -> EvalRun | None:
    """Mark `run` as its suite and mode's baseline; returns the run that was the baseline before, if any."""
    previous = baseline_run(session, run.suite, run.mode)
    if previous is not None and previous.id != run.id:
        session.execute(update(EvalRun).where(EvalRun.id == previous.id).values(is_baseline=False))
        session.flush()
        session.refresh(previous)
    run.is_baseline = True
    session.flush()
    return previous if previous is not None and previous.id != run.id else None


def latest_run_for_prompt(session: Session, suite: str, mode: str, prompt_ref: str) -> EvalRun | None:
    """The newest finished run of a suite that used this prompt version (JSONB containment on prompt_refs)."""
    stmt = (select(EvalRun).where(EvalRun.suite == suite, EvalRun.mode == mode, EvalRun.status == "done",
                                  EvalRun.prompt_refs.contains([prompt_ref]))
            .order_by(EvalRun.id.desc()).limit(1))
    return session.scalars(stmt).one_or_none()


def feedback_case_for_draft(session: Session, draft_id: int) -> EvalFeedbackCase | None:
    return session.scalars(select(EvalFeedbackCase).where(EvalFeedbackCase.draft_id == draft_id)).one_or_none()


def add_feedback_case(session: Session, **fields: Any) -> EvalFeedbackCase:
    row = EvalFeedbackCase(**fields)
    session.add(row)
    session.flush()
    return row


def feedback_cases(session: Session, suite: str) -> Sequence[EvalFeedbackCase]:
    stmt = select(EvalFeedbackCase).where(EvalFeedbackCase.suite == suite).order_by(EvalFeedbackCase.id)
    return session.scalars(stmt).all()
