"""Sign-in routes: POST /auth/login (cookie for pages, or JSON), /auth/logout, /auth/me, /auth/api-keys.

CSRF: the session cookie is HttpOnly and SameSite=Lax, so browsers do not send it on cross-site POSTs; on top of
that every cookie-authenticated write must echo the session's CSRF token (`X-CSRF-Token` header, or a
`csrf_token` form field) — see api/deps.py. Bearer-key requests carry no cookie and need no CSRF token.
Login itself needs none (there is no session yet to ride on).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import SESSION_COOKIE, CurrentUser, SessionDep, SettingsDep, now_utc
from api.errors import RateLimited
from core.config import Settings
from core.errors import NotFound
from core.models.enums import Role
from core.repositories import auth as repo
from core.services import auth as auth_service

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    id: int
    email: str
    full_name: str
    role: Role
    team_id: int | None
    csrf_token: str | None = None


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret: shown this once, never stored. Send as `Authorization: Bearer <key>`.")


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.api_cookie_secure,
                        max_age=int(timedelta(hours=settings.api_session_ttl_hours).total_seconds()), path="/")


def login_user(session: SessionDep, settings: Settings, response: Response, email: str, password: str,
               user_agent: str | None) -> Me:
    """Check the password, open a server-side session and set its cookie; page routes call this too."""
    user = auth_service.authenticate(session, email, password)
    started = auth_service.start_web_session(session, user, now=now_utc(),
                                             ttl=timedelta(hours=settings.api_session_ttl_hours),
                                             user_agent=user_agent)
    set_session_cookie(response, started.token, settings)
    return Me(id=user.id, email=user.email, full_name=user.full_name, role=Role(user.role), team_id=user.team_id,
              csrf_token=started.csrf_token)


def check_login_rate(request: Request) -> None:
    """Password guessing is slowed per client IP (in-process token bucket, see api/ratelimit.py): 429 beyond it."""
    host = request.client.host if request.client else "unknown"
    wait = request.app.state.login_limiter.take(host)
    if wait > 0:
        raise RateLimited(wait)


@router.post("/login", response_model=Me, responses={401: {"description": "wrong email or password"},
                                                     429: {"description": "too many attempts from this IP"}})
def login(body: LoginIn, request: Request, response: Response, session: SessionDep, settings: SettingsDep) -> Me:
    """Sign in with email and password: sets the HttpOnly session cookie and returns the CSRF token for writes."""
    check_login_rate(request)
    return login_user(session, settings, response, body.email, body.password, request.headers.get("user-agent"))


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, session: SessionDep, user: CurrentUser) -> Response:
    """End the cookie session (server-side too, so a copied cookie stops working)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service.end_web_session(session, token, now_utc())
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/")
    return out


@router.get("/me", response_model=Me)
def me(request: Request, session: SessionDep, user: CurrentUser) -> Me:
    row = repo.get_user(session, user.user_id)
    assert row is not None
    return Me(id=row.id, email=row.email, full_name=row.full_name, role=Role(row.role), team_id=row.team_id,
              csrf_token=getattr(request.state, "csrf_token", None))


def _key_out(key: object) -> dict[str, object]:
    return {f: getattr(key, f) for f in ApiKeyOut.model_fields}


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_api_key(body: ApiKeyIn, session: SessionDep, user: CurrentUser) -> ApiKeyCreated:
    """A bearer key for the caller; its secret is in this response only."""
    key, secret = auth_service.create_api_key(session, user.user_id, body.name, expires_at=body.expires_at,
                                              actor=user.actor)
    session.refresh(key)
    return ApiKeyCreated(**_key_out(key), key=secret)  # type: ignore[arg-type]


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(session: SessionDep, user: CurrentUser) -> list[ApiKeyOut]:
    return [ApiKeyOut(**_key_out(k)) for k in repo.api_keys_of(session, user.user_id)]  # type: ignore[arg-type]


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_api_key(key_id: int, session: SessionDep, user: CurrentUser) -> Response:
    if not repo.revoke_api_key(session, key_id, user.user_id, now_utc()):
        raise NotFound("api key", key_id)
    return Response(status_code=204)
