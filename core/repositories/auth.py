"""SQL for sign-in: users by email, password hashes, API keys and web sessions (all looked up by hash)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, undefer

from core.models import User
from core.models.auth import ApiKey, WebSession


def user_by_email(session: Session, email: str, *, with_password: bool = False) -> User | None:
    stmt = select(User).where(User.email == email)
    if with_password:
        stmt = stmt.options(undefer(User.password_hash))
    return session.scalar(stmt)


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def list_users(session: Session, limit: int = 500) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id).limit(limit)).all()


def set_password_hash(session: Session, user_id: int, password_hash: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def add_api_key(session: Session, **fields: Any) -> ApiKey:
    key = ApiKey(**fields)
    session.add(key)
    session.flush()
    return key


def api_key_by_hash(session: Session, key_hash: str, now: datetime) -> tuple[ApiKey, User] | None:
    """A live key (not revoked, not expired) of an active user."""
    stmt = (select(ApiKey, User).join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None), User.active.is_(True))
            .where((ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now)))
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def touch_api_key(session: Session, key_id: int, now: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


def api_keys_of(session: Session, user_id: int) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)).all()


def revoke_api_key(session: Session, key_id: int, user_id: int, now: datetime) -> bool:
    done = session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id,
                                                ApiKey.revoked_at.is_(None))
                           .values(revoked_at=now).returning(ApiKey.id)).first()
    return done is not None


def add_web_session(session: Session, **fields: Any) -> WebSession:
    row = WebSession(**fields)
    session.add(row)
    session.flush()
    return row


def web_session_by_hash(session: Session, token_hash: str, now: datetime) -> tuple[WebSession, User] | None:
    stmt = (select(WebSession, User).join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == token_hash, WebSession.revoked_at.is_(None),
                   WebSession.expires_at > now, User.active.is_(True)))
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def touch_web_session(session: Session, session_id: int, now: datetime, expires_at: datetime) -> None:
    session.execute(update(WebSession).where(WebSession.id == session_id)
                    .values(last_seen_at=now, expires_at=expires_at))


def revoke_web_session(session: Session, token_hash: str, now: datetime) -> None:
    session.execute(update(WebSession).where(WebSession.token_hash == token_hash, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now))
