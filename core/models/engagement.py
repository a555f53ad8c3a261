"""Activities (the timeline) and tasks (the to-do list, written by people and by agent runs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TimestampMixin, str_enum
from core.models.enums import ActivityKind, TaskPriority, TaskSource, TaskStatus

_HAS_LINK = "lead_id IS NOT NULL OR contact_id IS NOT NULL OR account_id IS NOT NULL OR deal_id IS NOT NULL"


class Activity(IdMixin, Base):
    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint(_HAS_LINK, name="has_link"),
        CheckConstraint("duration_minutes IS NULL OR duration_minutes >= 0", name="duration_non_negative"),
        Index("ix_activities_account_time", "account_id", "occurred_at"),
        Index("ix_activities_deal_time", "deal_id", "occurred_at"),
        Index("ix_activities_contact_time", "contact_id", "occurred_at"),
        Index("ix_activities_lead_time", "lead_id", "occurred_at"),
    )
    kind: Mapped[ActivityKind] = mapped_column(str_enum(ActivityKind, "activity_kind"))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(String(8))
    duration_minutes: Mapped[int | None]
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Task(IdMixin, TimestampMixin, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("source <> 'agent' OR agent_run_id IS NOT NULL", name="agent_task_has_run"),
        Index("ix_tasks_assignee_status_due", "assignee_id", "status", "due_at"),
    )
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None]
    priority: Mapped[TaskPriority] = mapped_column(str_enum(TaskPriority, "task_priority"),
                                                   default=TaskPriority.normal, server_default="normal")
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, "task_status"), default=TaskStatus.open,
                                               server_default="open")
    source: Mapped[TaskSource] = mapped_column(str_enum(TaskSource, "task_source"), default=TaskSource.person,
                                               server_default="person")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    agent_run_id: Mapped[int | None] = mapped_column(ForeignKey("agent_runs.id", ondelete="SET NULL"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    completed_at: Mapped[datetime | None]
