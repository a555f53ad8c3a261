"""Campaigns with cost and expected revenue, and the touches that attribute leads to them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TimestampMixin, str_enum
from core.models.enums import CampaignChannel


class Campaign(IdMixin, TimestampMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint("cost >= 0", name="cost_non_negative"),)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[CampaignChannel] = mapped_column(str_enum(CampaignChannel, "campaign_channel"))
    utm_campaign: Mapped[str | None] = mapped_column(String(120), index=True)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    expected_revenue: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CampaignTouch(IdMixin, Base):
    """One marketing touch on a lead or contact; first/last/linear attribution is computed from these."""

    __tablename__ = "campaign_touches"
    __table_args__ = (CheckConstraint("lead_id IS NOT NULL OR contact_id IS NOT NULL", name="has_target"),)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    touched_at: Mapped[datetime] = mapped_column(server_default=func.now())
    medium: Mapped[str | None] = mapped_column(String(64))
