"""Trained lead-scoring models: each version keeps its artifact and training metrics; one is promoted at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin

MODEL_STATUSES = ("candidate", "promoted", "retired", "rejected")


class ScoringModel(IdMixin, Base):
    """One trained version; `artifact` is the JSON the scorer reloads (booster text, feature space, calibration)."""

    __tablename__ = "scoring_models"
    __table_args__ = (
        CheckConstraint("status IN ('candidate', 'promoted', 'retired', 'rejected')", name="status_known"),
        Index("uq_scoring_models_version", "name", "version", unique=True),
        # At most one promoted version per model name.
        Index("uq_scoring_models_promoted", "name", unique=True, postgresql_where=text("status = 'promoted'")),
    )
    name: Mapped[str] = mapped_column(String(60))
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="candidate", server_default="candidate")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    artifact: Mapped[str] = mapped_column(Text)
    training_rows: Mapped[int]
    note: Mapped[str | None] = mapped_column(Text)
    trained_at: Mapped[datetime] = mapped_column(server_default=func.now())
