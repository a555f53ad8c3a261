"""Eval harness tables: one row per suite run (metrics, prompt versions, model, spend) and one per case outcome."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin

EVAL_MODES = ("model", "scripted")
EVAL_STATUSES = ("running", "done")
CASE_OUTCOMES = ("ok", "repaired", "fallback", "error", "over_budget", "exception")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class EvalRun(IdMixin, Base):
    """One run of one suite: what was measured (metrics) under which prompt versions and model, at what cost."""

    __tablename__ = "eval_runs"
    __table_args__ = (
        CheckConstraint(_in("mode", EVAL_MODES), name="mode_known"),
        CheckConstraint(_in("status", EVAL_STATUSES), name="status_known"),
        Index("ix_eval_runs_suite", "suite", "mode", "id"),
        # The gate compares against exactly one baseline per suite and mode.
        Index("uq_eval_runs_baseline", "suite", "mode", unique=True, postgresql_where=text("is_baseline")),
    )
    suite: Mapped[str] = mapped_column(String(80))
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="running", server_default="running")
    prompt_refs: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    model: Mapped[str] = mapped_column(String(160))
    judge_model: Mapped[str | None] = mapped_column(String(160))
    case_limit: Mapped[int | None]
    case_count: Mapped[int] = mapped_column(default=0, server_default="0")
    passed_count: Mapped[int] = mapped_column(default=0, server_default="0")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    input_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), default=Decimal(0), server_default="0")
    duration_ms: Mapped[int] = mapped_column(default=0, server_default="0")
    is_baseline: Mapped[bool] = mapped_column(default=False, server_default="false")
    report_path: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120), default="system")
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]


class EvalCaseResult(IdMixin, Base):
    """What one case produced and how each evaluator scored it, so runs can be compared case by case."""

    __tablename__ = "eval_case_results"
    __table_args__ = (
        UniqueConstraint("run_id", "case_id", name="uq_eval_case_results_run_case"),
        CheckConstraint(_in("outcome", CASE_OUTCOMES), name="outcome_known"),
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]
    passed: Mapped[bool]
    outcome: Mapped[str] = mapped_column(String(20))
    fallback: Mapped[bool] = mapped_column(default=False, server_default="false")
    scores: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    comments: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    reference: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    output: Mapped[str] = mapped_column(Text, default="", server_default="")
    label: Mapped[int | None]
    prediction: Mapped[int | None]
    probability: Mapped[float | None]
    input_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    latency_ms: Mapped[int] = mapped_column(default=0, server_default="0")
    llm_call_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)


class EvalFeedbackCase(IdMixin, Base):
    """A reviewed draft turned into a case of its agent's suite: people's approvals, edits and rejections become
    regression cases the next prompt version must still handle (added from the inbox, never automatically)."""

    __tablename__ = "eval_feedback_cases"
    __table_args__ = (
        UniqueConstraint("suite", "case_id", name="uq_eval_feedback_cases_suite_case"),
        CheckConstraint(_in("kind", ("approved", "edited", "rejected")), name="kind_known"),
    )
    suite: Mapped[str] = mapped_column(String(80), index=True)
    case_id: Mapped[str] = mapped_column(String(200))
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), unique=True)
    agent: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(16))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reference: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    scripted_reply: Mapped[str] = mapped_column(Text)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
