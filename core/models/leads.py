"""Leads: unqualified prospects with their source, BANT qualification, score and conversion links."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TaggedMixin, TimestampMixin, str_enum
from core.models.enums import LeadSource, LeadStatus


class Lead(IdMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name="score_range"),
        CheckConstraint("status <> 'disqualified' OR disqualified_reason IS NOT NULL", name="disqualified_has_reason"),
        Index("ix_leads_tags", "tags", postgresql_using="gin"),
        Index("ix_leads_custom_fields", "custom_fields", postgresql_using="gin"),
    )
    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(CITEXT, index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    company_name: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(120))
    employees: Mapped[int | None]
    country: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[LeadSource] = mapped_column(str_enum(LeadSource, "lead_source"), default=LeadSource.manual)
    source_detail: Mapped[str | None] = mapped_column(String(120))
    utm_source: Mapped[str | None] = mapped_column(String(120))
    utm_medium: Mapped[str | None] = mapped_column(String(120))
    utm_campaign: Mapped[str | None] = mapped_column(String(120))
    utm_term: Mapped[str | None] = mapped_column(String(120))
    utm_content: Mapped[str | None] = mapped_column(String(120))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    status: Mapped[LeadStatus] = mapped_column(str_enum(LeadStatus, "lead_status"), default=LeadStatus.new,
                                               server_default=LeadStatus.new.value, index=True)
    disqualified_reason: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    bant_budget: Mapped[Decimal | None]
    bant_authority: Mapped[bool | None]
    bant_need: Mapped[str | None] = mapped_column(Text)
    bant_timeline: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[int | None]
    score_factors: Mapped[dict[str, Any]] = mapped_column(server_default="{}", default=dict)
    scored_at: Mapped[datetime | None]
    converted_at: Mapped[datetime | None]
    converted_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    converted_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    converted_deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", use_alter=True))
    external_id: Mapped[str | None] = mapped_column(String(120), unique=True)


class LeadScoreHistory(IdMixin, Base):
    __tablename__ = "lead_score_history"
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    score: Mapped[int]
    factors: Mapped[dict[str, Any]] = mapped_column(server_default="{}", default=dict)
    model: Mapped[str] = mapped_column(String(120))
    scored_at: Mapped[datetime] = mapped_column(server_default=func.now())
