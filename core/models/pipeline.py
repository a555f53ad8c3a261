"""Configurable pipelines and stages, deals, and the stage history that measures time in stage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TaggedMixin, TimestampMixin, str_enum
from core.models.enums import DealStatus


class Pipeline(IdMixin, TimestampMixin, Base):
    __tablename__ = "pipelines"
    name: Mapped[str] = mapped_column(String(120), unique=True)
    is_default: Mapped[bool] = mapped_column(default=False, server_default="false")


class Stage(IdMixin, Base):
    """A stage of a pipeline. A removed stage that deals once passed through is archived, not deleted: the stage
    history (time in stage, the Deal Coach's norms) keeps pointing at it, while names and positions need only be
    unique among the live stages."""

    __tablename__ = "stages"
    __table_args__ = (
        Index("uq_stages_pipeline_name", "pipeline_id", "name", unique=True,
              postgresql_where=text("archived_at IS NULL")),
        Index("uq_stages_pipeline_position", "pipeline_id", "position", unique=True,
              postgresql_where=text("archived_at IS NULL")),
        CheckConstraint("win_probability BETWEEN 0 AND 1", name="win_probability_range"),
        CheckConstraint("NOT (is_won AND is_lost)", name="won_xor_lost"),
        CheckConstraint("rot_days IS NULL OR rot_days > 0", name="rot_days_positive"),
    )
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int]
    win_probability: Mapped[Decimal] = mapped_column(default=Decimal(0))
    is_won: Mapped[bool] = mapped_column(default=False, server_default="false")
    is_lost: Mapped[bool] = mapped_column(default=False, server_default="false")
    rot_days: Mapped[int | None]
    archived_at: Mapped[datetime | None]


class Deal(IdMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("status <> 'lost' OR lost_reason IS NOT NULL", name="lost_has_reason"),
        Index("ix_deals_tags", "tags", postgresql_using="gin"),
        Index("ix_deals_custom_fields", "custom_fields", postgresql_using="gin"),
        Index("ix_deals_account_status", "account_id", "status"),
    )
    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    primary_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"), index=True)
    stage_entered_at: Mapped[datetime] = mapped_column(server_default=func.now())
    amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    expected_close_date: Mapped[date | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[DealStatus] = mapped_column(str_enum(DealStatus, "deal_status"), default=DealStatus.open,
                                               server_default=DealStatus.open.value)
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    competitor: Mapped[str | None] = mapped_column(String(120))
    closed_at: Mapped[datetime | None]
    is_renewal: Mapped[bool] = mapped_column(default=False, server_default="false")
    external_id: Mapped[str | None] = mapped_column(String(120), unique=True)


class DealStageHistory(IdMixin, Base):
    """One row per stay in a stage: `left_at` is NULL for the stage the deal is in now."""

    __tablename__ = "deal_stage_history"
    __table_args__ = (
        CheckConstraint("left_at IS NULL OR left_at >= entered_at", name="left_after_entered"),
        Index("uq_deal_stage_history_open", "deal_id", unique=True, postgresql_where=text("left_at IS NULL")),
    )
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    entered_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
