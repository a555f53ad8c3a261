"""Sign-in state: API keys (bearer) and web sessions (cookie), both stored only as hashes of their secrets.

`users.password_hash` lives on the User model's table (added by migration 0007) and is mapped here as a
deferred column so code that never signs anyone in never loads it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, IdMixin


class ApiKey(IdMixin, Base):
    """A bearer key: the secret is shown once at creation; only its SHA-256 is kept (it is random, not a password)."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_active", "user_id", postgresql_where=text("revoked_at IS NULL")),)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSession(IdMixin, Base):
    """A signed-in browser: the cookie holds a random token, the table its SHA-256, so a DB leak signs no one in."""

    __tablename__ = "web_sessions"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(300))
