"""Cross-cutting tables: saved segments, custom field definitions, the event outbox, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TimestampMixin, str_enum
from core.models.enums import CustomFieldType, SegmentEntity


class Segment(IdMixin, TimestampMixin, Base):
    """A saved rule set, evaluated at read time so membership always reflects current data."""

    __tablename__ = "segments"
    name: Mapped[str] = mapped_column(String(200), unique=True)
    entity: Mapped[SegmentEntity] = mapped_column(str_enum(SegmentEntity, "segment_entity"))
    description: Mapped[str | None] = mapped_column(Text)
    rules: Mapped[dict[str, Any]]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CustomFieldDefinition(IdMixin, TimestampMixin, Base):
    """Describes a key found in `custom_fields` so the UI and the segment builder know its type and label."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (UniqueConstraint("entity", "key", name="uq_custom_field_definitions_entity_key"),)
    entity: Mapped[SegmentEntity] = mapped_column(str_enum(SegmentEntity, "custom_field_entity"))
    key: Mapped[str] = mapped_column(String(120))
    label: Mapped[str] = mapped_column(String(200))
    data_type: Mapped[CustomFieldType] = mapped_column(str_enum(CustomFieldType, "custom_field_type"))


class OutboxEvent(IdMixin, Base):
    """Written in the same transaction as the business change; a dispatcher turns rows into tasks later."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_pending", "id", postgresql_where=text("dispatched_at IS NULL")),
    )
    topic: Mapped[str] = mapped_column(String(80), index=True)
    aggregate_type: Mapped[str] = mapped_column(String(40))
    aggregate_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(server_default="{}", default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class AuditLog(IdMixin, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
