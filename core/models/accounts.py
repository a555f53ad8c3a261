"""Accounts (companies, any depth of parent/child) and the people at them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TaggedMixin, TimestampMixin, str_enum
from core.models.enums import BuyingRole, Lifecycle, SizeBand


class Account(IdMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("employees IS NULL OR employees >= 0", name="employees_non_negative"),
        Index("ix_accounts_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_accounts_tags", "tags", postgresql_using="gin"),
        Index("ix_accounts_custom_fields", "custom_fields", postgresql_using="gin"),
    )
    name: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("accounts.id"), index=True)
    domain: Mapped[str | None] = mapped_column(CITEXT)
    industry: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    size_band: Mapped[SizeBand | None] = mapped_column(str_enum(SizeBand, "size_band"))
    employees: Mapped[int | None]
    annual_revenue: Mapped[Decimal | None]
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    region: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    lifecycle: Mapped[Lifecycle] = mapped_column(str_enum(Lifecycle, "lifecycle"), default=Lifecycle.prospect,
                                                 server_default=Lifecycle.prospect.value)
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    price_book_id: Mapped[int | None] = mapped_column(ForeignKey("price_books.id"))
    payment_terms_days: Mapped[int] = mapped_column(default=30, server_default="30")
    account_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    csm_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"))
    blacklisted: Mapped[bool] = mapped_column(default=False, server_default="false")
    external_id: Mapped[str | None] = mapped_column(String(120), unique=True)


class Contact(IdMixin, TimestampMixin, TaggedMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_tags", "tags", postgresql_using="gin"),
        Index("ix_contacts_custom_fields", "custom_fields", postgresql_using="gin"),
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    first_name: Mapped[str] = mapped_column(String(120))
    last_name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    title: Mapped[str | None] = mapped_column(String(200))
    buying_role: Mapped[BuyingRole | None] = mapped_column(str_enum(BuyingRole, "buying_role"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    preferred_channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    do_not_call: Mapped[bool] = mapped_column(default=False, server_default="false")
    email_consent: Mapped[bool] = mapped_column(default=True, server_default="true")
    consent_updated_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(120), unique=True)


class ContactEmail(IdMixin, Base):
    __tablename__ = "contact_emails"
    __table_args__ = (UniqueConstraint("contact_id", "email", name="uq_contact_emails_contact_email"),)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(CITEXT, index=True)
    label: Mapped[str] = mapped_column(String(32), default="work", server_default="work")
    is_primary: Mapped[bool] = mapped_column(default=False, server_default="false")


class ContactPhone(IdMixin, Base):
    __tablename__ = "contact_phones"
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(32), default="work", server_default="work")
    is_primary: Mapped[bool] = mapped_column(default=False, server_default="false")
