"""Sign-in: argon2 password hashes, random bearer API keys and cookie sessions, each kept only as a hash.

Passwords are slow-hashed (argon2id via argon2-cffi) because people reuse them; API keys and session tokens are
256-bit random secrets, so a SHA-256 lookup hash is enough and keeps every request fast.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from core.errors import CrmError, InvalidInput, NotFound
from core.models import User
from core.models.auth import ApiKey
from core.models.enums import Role
from core.repositories import auth as repo
from core.repositories import events

API_KEY_PREFIX = "sa_"
MIN_PASSWORD_LENGTH = 8
_HASHER: PasswordHasher | None = None
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH: str | None = None


class Unauthenticated(CrmError):
    """No valid credentials: the caller must sign in (HTTP 401)."""


class Forbidden(CrmError):
    """Signed in, but this role may not use this function at all (HTTP 403)."""


def _hasher() -> PasswordHasher:
    global _HASHER
    if _HASHER is None:
        _HASHER = PasswordHasher()
    return _HASHER


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hasher().hash(secrets.token_hex(16))
        password_hash = _DUMMY_HASH
        password = password + "\0never"
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(session: Session, *, email: str, full_name: str, role: Role, password: str | None = None,
                team_id: int | None = None, manager_id: int | None = None, actor: str = "system") -> User:
    if repo.user_by_email(session, email) is not None:
        raise InvalidInput("email", f"a user with email {email!r} exists")
    user = User(email=email, full_name=full_name, role=role, team_id=team_id, manager_id=manager_id,
                password_hash=hash_password(password) if password is not None else None)
    session.add(user)
    session.flush()
    events.add_audit(session, actor=actor, action="create", entity_type="user", entity_id=user.id,
                     after={"email": email, "role": role.value})
    return user


def set_password(session: Session, email: str, password: str, *, actor: str = "system") -> User:
    user = repo.user_by_email(session, email)
    if user is None:
        raise NotFound("user", email)
    repo.set_password_hash(session, user.id, hash_password(password))
    events.add_audit(session, actor=actor, action="set_password", entity_type="user", entity_id=user.id, after={})
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    """The active user with this email and password; one vague error for every failure (no account probing)."""
    user = repo.user_by_email(session, email, with_password=True)
    ok = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not ok or not user.active:
        raise Unauthenticated("email or password is wrong")
    if user.password_hash and _hasher().check_needs_rehash(user.password_hash):
        repo.set_password_hash(session, user.id, _hasher().hash(password))
    return user


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime


def start_web_session(session: Session, user: User, *, now: datetime, ttl: timedelta,
                      user_agent: str | None = None) -> NewSession:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    repo.add_web_session(session, user_id=user.id, token_hash=token_hash(token), csrf_token=csrf,
                         expires_at=now + ttl, last_seen_at=now, user_agent=(user_agent or "")[:300] or None)
    return NewSession(token, csrf, now + ttl)


@dataclass(frozen=True)
class CookieIdentity:
    user: User
    csrf_token: str


def user_from_cookie(session: Session, token: str, *, now: datetime, ttl: timedelta) -> CookieIdentity | None:
    """The signed-in user of a session cookie; the session slides forward on use (idle timeout = ttl)."""
    found = repo.web_session_by_hash(session, token_hash(token), now)
    if found is None:
        return None
    web, user = found
    if (now - web.last_seen_at) > timedelta(minutes=1):
        repo.touch_web_session(session, web.id, now, now + ttl)
    return CookieIdentity(user, web.csrf_token)


def end_web_session(session: Session, token: str, now: datetime) -> None:
    repo.revoke_web_session(session, token_hash(token), now)


def create_api_key(session: Session, user_id: int, name: str, *, expires_at: datetime | None = None,
                   actor: str = "system") -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is returned this once and never stored."""
    if repo.get_user(session, user_id) is None:
        raise NotFound("user", user_id)
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = repo.add_api_key(session, user_id=user_id, name=name.strip()[:120], prefix=secret[:10],
                           key_hash=token_hash(secret), expires_at=expires_at)
    events.add_audit(session, actor=actor, action="create_api_key", entity_type="user", entity_id=user_id,
                     after={"api_key_id": key.id, "name": key.name})
    return key, secret


def user_from_api_key(session: Session, secret: str, *, now: datetime) -> User | None:
    found = repo.api_key_by_hash(session, token_hash(secret), now)
    if found is None:
        return None
    key, user = found
    if key.last_used_at is None or (now - key.last_used_at) > timedelta(minutes=1):
        repo.touch_api_key(session, key.id, now)
    return user
