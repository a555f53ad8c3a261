"""People who use the CRM: users with roles, their teams and territories."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY, CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin, TimestampMixin, str_enum
from core.models.enums import Role


class Team(IdMixin, TimestampMixin, Base):
    __tablename__ = "teams"
    name: Mapped[str] = mapped_column(String(120), unique=True)


class Territory(IdMixin, TimestampMixin, Base):
    __tablename__ = "territories"
    name: Mapped[str] = mapped_column(String(120), unique=True)
    region: Mapped[str | None] = mapped_column(String(64))
    countries: Mapped[list[str]] = mapped_column(ARRAY(String(2)), server_default="{}", default=list)


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    email: Mapped[str] = mapped_column(CITEXT, unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # argon2 hash (migration 0007); deferred so only sign-in code ever loads it. None: cannot sign in by password.
    password_hash: Mapped[str | None] = mapped_column(String(255), deferred=True)
