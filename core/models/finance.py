"""Invoices and payments: the AR balance and days overdue are derived from them, never stored twice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TimestampMixin, str_enum
from core.models.enums import InvoiceStatus


class Invoice(IdMixin, TimestampMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("due_on >= issued_on", name="due_after_issue"),
        Index("ix_invoices_account_status", "account_id", "status"),
    )
    number: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("sales_orders.id", ondelete="SET NULL"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    issued_on: Mapped[date]
    due_on: Mapped[date]
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus, "invoice_status"),
                                                  default=InvoiceStatus.open, server_default="open")


class Payment(IdMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal]
    paid_on: Mapped[date]
    method: Mapped[str] = mapped_column(String(32), default="bank_transfer", server_default="bank_transfer")
