"""Annotated dependency aliases: the request owns its transaction, and knows who is asking.

    SessionDep      one Session per request; committed when the route returns, rolled back on any error
    CurrentUser     the signed-in Principal (bearer API key, else session cookie), 401 when neither
    OptionalUser    the same or None (public pages)
    AdminUser / require_roles(...)  403 for roles the route is not for
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from core.config import Settings
from core.db.engine import make_engine, resolve_url
from core.models.enums import Role
from core.repositories.scoping import Principal, principal_of
from core.services import auth as auth_service
from core.services.auth import Forbidden, Unauthenticated

SESSION_COOKIE = "sa_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Database:
    """The app's engine and session factory, made on first use so building the app connects to nothing."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self._settings, self._engine = settings, engine

    @cached_property
    def engine(self) -> Engine:
        return self._engine or make_engine(resolve_url(self._settings), echo=self._settings.sql_echo)

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        return sessionmaker(bind=self.engine, expire_on_commit=False)


def unit_of_work(session: Session) -> Iterator[Session]:
    """Commit when the route returned, roll back when it raised: services only flush."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.db.factory()
    try:
        yield from unit_of_work(session)
    finally:
        session.close()


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


# scope="function": commit/rollback run when the route returns, before the response is sent, so a failed
# commit is reported to the client instead of being lost after a 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def now_utc() -> datetime:
    return datetime.now(UTC)


async def _csrf_ok(request: Request, expected: str) -> bool:
    """Cookie-authenticated writes must echo the session's CSRF token (header for htmx/fetch, field for forms)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FORM_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent, expected)


def _lookup(session: Session, token: str | None, cookie: str | None, ttl: timedelta) -> Any:
    """The database half of signing a request in: runs in the thread pool, never on the event loop (a row lock
    held by a concurrent request with the same key or cookie must not stall every other request)."""
    now = now_utc()
    if token is not None:
        return auth_service.user_from_api_key(session, token, now=now)
    if cookie:
        return auth_service.user_from_cookie(session, cookie, now=now, ttl=ttl)
    return None


async def _identify(request: Request, session: Session, settings: Settings) -> Principal | None:
    """Bearer key first (API clients), else the session cookie (pages); records how the caller signed in."""
    token = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE) if token is None else None
    if token is None and not cookie:
        return None
    found = await run_in_threadpool(_lookup, session, token, cookie,
                                    timedelta(hours=settings.api_session_ttl_hours))
    if token is not None:
        if found is None:
            raise Unauthenticated("the API key is unknown, revoked or expired")
        request.state.auth_method = "api_key"
        return principal_of(found)
    if found is None:
        return None
    if request.method in UNSAFE_METHODS and not await _csrf_ok(request, found.csrf_token):
        raise Forbidden(f"missing or wrong CSRF token (send the {CSRF_HEADER} header or a "
                        f"{CSRF_FORM_FIELD} form field)")
    request.state.auth_method = "cookie"
    request.state.csrf_token = found.csrf_token
    return principal_of(found.user)


# Declared for the OpenAPI spec ("Authorize" in /docs); _identify reads the same header and cookie itself.
_bearer_doc = HTTPBearer(auto_error=False, description="API key from POST /auth/api-keys")
_cookie_doc = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                           description="Session from POST /auth/login; writes need the X-CSRF-Token header")


async def optional_user(request: Request, session: SessionDep, settings: SettingsDep,
                        _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_doc)] = None,
                        _cookie: Annotated[str | None, Depends(_cookie_doc)] = None) -> Principal | None:
    principal = await _identify(request, session, settings)
    request.state.principal = principal
    return principal


async def current_user(request: Request, principal: Annotated[Principal | None, Depends(optional_user)]
                       ) -> Principal:
    if principal is None:
        raise Unauthenticated("sign in first: Authorization: Bearer <API key>, or the session cookie")
    return principal


OptionalUser = Annotated[Principal | None, Depends(optional_user)]
CurrentUser = Annotated[Principal, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[..., Any]:
    """A dependency refusing (403) every role not listed; admins always pass."""
    allowed = frozenset(roles) | {Role.admin}

    def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise Forbidden(f"role {user.role.value} may not use this function")
        return user

    return check


AdminUser = Annotated[Principal, Depends(require_roles(Role.admin))]
SellerUser = Annotated[Principal, Depends(require_roles(Role.rep, Role.manager))]
ManagerUser = Annotated[Principal, Depends(require_roles(Role.manager))]
