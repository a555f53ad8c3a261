"""Model-runtime tables: immutable prompt versions and their labels, the model-call ledger, text embeddings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import VECTOR
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

EMBEDDING_DIMS = 384
EMBEDDING_SOURCES = ("account_description", "activity_note", "nps_comment", "reply")


class PromptVersion(IdMixin, Base):
    """Never updated: a change of text is a new version, so every run can name exactly what it used."""

    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_prompt_version"),
        UniqueConstraint("prompt_id", "content_hash", name="uq_prompt_versions_prompt_hash"),
        CheckConstraint("version > 0", name="version_positive"),
    )
    prompt_id: Mapped[str] = mapped_column(String(120))
    version: Mapped[int]
    description: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(40), default="default")
    inputs: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    template: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(40), default="file")
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120), default="system")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PromptLabel(Base):
    """Which version is `production` (exactly one) and `staging` (at most one) for each prompt."""

    __tablename__ = "prompt_labels"
    __table_args__ = (CheckConstraint("label IN ('production', 'staging')", name="label_known"),)
    prompt_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    label: Mapped[str] = mapped_column(String(20), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("prompt_versions.id"))
    updated_by: Mapped[str] = mapped_column(String(120), default="system")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class PromptLabelEvent(IdMixin, Base):
    """History of label moves: rollback returns `production` to the version it held before."""

    __tablename__ = "prompt_label_events"
    __table_args__ = (Index("ix_prompt_label_events_prompt", "prompt_id", "label", "id"),)
    prompt_id: Mapped[str] = mapped_column(String(120))
    label: Mapped[str] = mapped_column(String(20))
    from_version_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_versions.id"))
    to_version_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_versions.id"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120), default="system")
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class LlmCall(IdMixin, Base):
    """One row per model call (including ones refused by a budget or answered by the fallback template)."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        CheckConstraint("outcome IN ('ok', 'repaired', 'fallback', 'error', 'over_budget')", name="outcome_known"),
        Index("ix_llm_calls_agent_time", "agent", "created_at"),
        Index("ix_llm_calls_run", "run_id"),
    )
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    agent: Mapped[str] = mapped_column(String(60))
    purpose: Mapped[str] = mapped_column(String(40))
    prompt_ref: Mapped[str | None] = mapped_column(String(160))
    model: Mapped[str] = mapped_column(String(160))
    input_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    latency_ms: Mapped[int] = mapped_column(default=0, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), default=Decimal(0), server_default="0")
    attempts: Mapped[int] = mapped_column(default=1, server_default="1")
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TextEmbedding(IdMixin, Base):
    """A 384-dim embedding of one searchable text; `content_hash` lets the job re-embed only what changed."""

    __tablename__ = "text_embeddings"
    __table_args__ = (
        UniqueConstraint("source", "entity_id", name="uq_text_embeddings_source_entity"),
        CheckConstraint("source IN ('account_description', 'activity_note', 'nps_comment', 'reply')",
                        name="source_known"),
        *[Index(f"ix_text_embeddings_hnsw_{src}", "embedding", postgresql_using="hnsw",
                postgresql_ops={"embedding": "vector_cosine_ops"}, postgresql_where=text(f"source = '{src}'"))
          for src in EMBEDDING_SOURCES],
    )
    source: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(160))
    embedding: Mapped[Any] = mapped_column(VECTOR(EMBEDDING_DIMS))
    embedded_at: Mapped[datetime] = mapped_column(server_default=func.now())
