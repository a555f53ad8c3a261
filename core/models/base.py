"""Declarative base, naming convention and the column helpers every model shares."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, MetaData, Numeric, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(14, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, Decimal: Money, datetime: DateTime(timezone=True)}


def str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """Stored as VARCHAR with a CHECK constraint: adding a value is a plain migration, no ALTER TYPE."""
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=32,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class TaggedMixin:
    """Free-form tags and schemaless custom fields, both indexed with GIN so they are queryable."""

    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default="{}", default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(server_default="{}", default=dict)
