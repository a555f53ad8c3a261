"""Customer-success signals: NPS, support tickets, contracts and product usage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Computed, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TimestampMixin, str_enum
from core.models.enums import ContractStatus, TicketStatus

NPS_CATEGORY_SQL = "CASE WHEN score >= 9 THEN 'promoter' WHEN score >= 7 THEN 'passive' ELSE 'detractor' END"


class NpsSurvey(IdMixin, TimestampMixin, Base):
    __tablename__ = "nps_surveys"
    name: Mapped[str] = mapped_column(String(200), unique=True)
    milestone: Mapped[str] = mapped_column(String(32), default="adhoc", server_default="adhoc")


class NpsResponse(IdMixin, Base):
    __tablename__ = "nps_responses"
    __table_args__ = (
        CheckConstraint("score BETWEEN 0 AND 10", name="score_range"),
        Index("ix_nps_responses_account_time", "account_id", "responded_at"),
    )
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("nps_surveys.id", ondelete="SET NULL"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    score: Mapped[int] = mapped_column(SmallInteger)
    # Derived in the database so the category can never disagree with the score.
    category: Mapped[str] = mapped_column(String(16), Computed(NPS_CATEGORY_SQL, persisted=True))
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Ticket(IdMixin, TimestampMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction_range"),
        Index("ix_tickets_account_status", "account_id", "status"),
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="normal", server_default="normal")
    status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus, "ticket_status"), default=TicketStatus.open,
                                                 server_default="open")
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sla_due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Contract(IdMixin, TimestampMixin, Base):
    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="end_after_start"),
        CheckConstraint("arr >= 0", name="arr_non_negative"),
        CheckConstraint("seat_limit IS NULL OR seat_limit > 0", name="seat_limit_positive"),
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    plan: Mapped[str] = mapped_column(String(80))
    start_date: Mapped[date]
    end_date: Mapped[date]
    arr: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    seat_limit: Mapped[int | None]
    auto_renew: Mapped[bool] = mapped_column(default=False, server_default="false")
    status: Mapped[ContractStatus] = mapped_column(str_enum(ContractStatus, "contract_status"),
                                                   default=ContractStatus.active, server_default="active")


class UsageSnapshot(IdMixin, Base):
    __tablename__ = "usage_snapshots"
    __table_args__ = (
        UniqueConstraint("account_id", "captured_on", name="uq_usage_snapshots_account_day"),
        CheckConstraint("logins >= 0 AND active_users >= 0 AND seats_used >= 0", name="counts_non_negative"),
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    captured_on: Mapped[date]
    logins: Mapped[int] = mapped_column(default=0)
    active_users: Mapped[int] = mapped_column(default=0)
    seats_used: Mapped[int] = mapped_column(default=0)
    features_adopted: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default="{}", default=list)
