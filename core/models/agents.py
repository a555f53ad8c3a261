"""Agent runtime tables: runs, their outputs (scores, suggestions, drafts), approvals, reviewer feedback, mail.

Every output carries an `idempotency_key` (agent + subject + purpose + input hash), unique in its table, so a
re-run on unchanged input cannot duplicate it; tasks written by agents use `tasks.idempotency_key` the same way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin
from core.models.llm import EMBEDDING_DIMS

RUN_STATUSES = ("queued", "running", "waiting_review", "succeeded", "failed", "skipped")
DRAFT_STATUSES = ("pending_review", "approved", "edited", "rejected", "expired", "sent")
APPROVAL_STATUSES = ("pending", "resuming", "approved", "edited", "rejected", "expired")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AgentRun(IdMixin, Base):
    """One execution of one agent on one subject; also the LangGraph `thread_id` of its checkpoints."""

    __tablename__ = "agent_runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status_known"),
        CheckConstraint(_in("trigger", ("schedule", "event", "manual")), name="trigger_known"),
        Index("ix_agent_runs_status_queued", "status", "queued_at"),
        Index("ix_agent_runs_agent_subject", "agent", "subject_type", "subject_id"),
        # An outbox event or a schedule slot becomes exactly one run per agent.
        Index("uq_agent_runs_dedupe", "agent", "dedupe_key", unique=True,
              postgresql_where=text("dedupe_key IS NOT NULL")),
    )
    agent: Mapped[str] = mapped_column(String(60))
    trigger: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="queued", server_default="queued")
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_events.id", ondelete="SET NULL"))
    input_hash: Mapped[str | None] = mapped_column(String(64))
    prompt_refs: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    model: Mapped[str | None] = mapped_column(String(160))
    input_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    llm_calls: Mapped[int] = mapped_column(default=0, server_default="0")
    model_ms: Mapped[int] = mapped_column(default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    task_id: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class _Output:
    """Columns every agent output shares: where it came from and how to recognise a duplicate."""

    run_id: Mapped[int] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"), index=True)
    agent: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AgentScore(IdMixin, _Output, Base):
    __tablename__ = "agent_scores"
    __table_args__ = (Index("ix_agent_scores_subject", "subject_type", "subject_id", "purpose", "created_at"),)
    purpose: Mapped[str] = mapped_column(String(40))
    score: Mapped[Decimal] = mapped_column(Numeric(8, 4))
    band: Mapped[str | None] = mapped_column(String(20))
    factors: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    model: Mapped[str | None] = mapped_column(String(160))


class Suggestion(IdMixin, _Output, Base):
    __tablename__ = "suggestions"
    __table_args__ = (
        CheckConstraint(_in("status", ("open", "accepted", "dismissed")), name="status_known"),
        Index("ix_suggestions_subject_status", "subject_type", "subject_id", "status"),
    )
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    prompt_ref: Mapped[str | None] = mapped_column(String(160))
    model: Mapped[str | None] = mapped_column(String(160))
    fallback: Mapped[bool] = mapped_column(default=False, server_default="false")
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Draft(IdMixin, _Output, Base):
    """A message that would leave the company: nothing is sent before a person approves it."""

    __tablename__ = "drafts"
    __table_args__ = (
        CheckConstraint(_in("status", DRAFT_STATUSES), name="status_known"),
        Index("ix_drafts_status", "status", "created_at"),
    )
    channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    final_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending_review", server_default="pending_review")
    prompt_ref: Mapped[str | None] = mapped_column(String(160))
    model: Mapped[str | None] = mapped_column(String(160))
    fallback: Mapped[bool] = mapped_column(default=False, server_default="false")
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    sent_at: Mapped[datetime | None]


class Approval(IdMixin, Base):
    """What waits for whom. Claimed with `UPDATE … WHERE status = 'pending'` so only one reviewer resumes it."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(_in("status", APPROVAL_STATUSES), name="status_known"),
        Index("ix_approvals_reviewer_status", "reviewer_id", "status"),
        Index("ix_approvals_pending_due", "due_at", postgresql_where=text("status = 'pending'")),
    )
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"), index=True)
    interrupt_id: Mapped[str | None] = mapped_column(String(64))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    escalated_at: Mapped[datetime | None]
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReviewFeedback(IdMixin, Base):
    """A reviewer's edit or rejection, embedded so later drafts for similar situations can learn from it."""

    __tablename__ = "review_feedback"
    __table_args__ = (
        CheckConstraint(_in("kind", ("edited", "rejected", "approved")), name="kind_known"),
        Index("ix_review_feedback_hnsw", "embedding", postgresql_using="hnsw",
              postgresql_ops={"embedding": "vector_cosine_ops"}),
    )
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), unique=True)
    agent: Mapped[str] = mapped_column(String(60), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    situation: Mapped[str] = mapped_column(Text)
    original: Mapped[str] = mapped_column(Text)
    edited: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    model: Mapped[str] = mapped_column(String(160))
    embedding: Mapped[Any] = mapped_column(VECTOR(EMBEDDING_DIMS))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MailMessage(IdMixin, Base):
    """The mailer's outbox: SMTP sends from here when configured; by default messages stay here, unsent."""

    __tablename__ = "mail_messages"
    __table_args__ = (CheckConstraint(_in("status", ("stored", "sent", "failed")), name="status_known"),)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), unique=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    transport: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
