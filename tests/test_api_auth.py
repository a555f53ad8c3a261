"""Sign-in: argon2 passwords, HttpOnly SameSite=Lax session cookie with CSRF for writes, bearer API keys stored
only as hashes, logout and revocation; the `salesagents users` CLI on a committed database."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import main as cli_main
from api.ratelimit import TokenBucket
from core.errors import InvalidInput
from core.models import ApiKey, User, WebSession
from core.models.enums import Role
from core.services import auth as auth_service
from tests import factories
from tests.api_support import app_for, client_for, error_of

PASSWORD = "correct horse battery"


def _user(session: Session, role: Role = Role.rep) -> User:
    user = factories.user(session, role=role)
    auth_service.set_password(session, user.email, PASSWORD)
    return user


def _login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/login", json={"email": email, "password": password})


def test_password_login_sets_a_safe_cookie_and_writes_need_the_csrf_token(session: Session) -> None:
    user = _user(session)
    stored = session.execute(text("SELECT password_hash FROM users WHERE id = :i"), {"i": user.id}).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    client = client_for(app_for(session))
    response = _login(client, user.email)
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert "sa_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    csrf = response.json()["csrf_token"]
    token = client.cookies["sa_session"]
    row = session.scalars(select(WebSession).where(WebSession.user_id == user.id)).one()
    assert row.token_hash == auth_service.token_hash(token) and token not in row.token_hash

    me = client.get("/auth/me")
    assert me.json()["email"] == user.email and me.json()["csrf_token"] == csrf
    no_csrf = client.post("/leads", json={"last_name": "Nope"})
    assert no_csrf.status_code == 403 and "CSRF" in error_of(no_csrf)["message"]
    wrong = client.post("/leads", json={"last_name": "Nope"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    ok = client.post("/leads", json={"last_name": "Yes"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text

    assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set("sa_session", token)  # a copied cookie stops working too: the session is revoked server-side
    assert client.get("/auth/me").status_code == 401


def test_wrong_password_and_unknown_email_get_the_same_answer(session: Session) -> None:
    user = _user(session)
    client = client_for(app_for(session))
    wrong = _login(client, user.email, "not the password")
    unknown = _login(client, "nobody@example.test", "whatever1")
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong)["message"] == error_of(unknown)["message"] == "email or password is wrong"
    user.active = False
    session.flush()
    assert _login(client, user.email).status_code == 401


def test_password_guessing_is_rate_limited_per_ip(session: Session) -> None:
    user = _user(session)
    app = app_for(session)
    limiter = app.state.login_limiter  # the app's bucket on a stopped clock: no refill while argon2 works
    app.state.login_limiter = TokenBucket(limiter.rate, limiter.burst, clock=lambda: 0.0)
    client = client_for(app)
    codes = [_login(client, user.email, f"guess {i}").status_code for i in range(11)]
    assert codes == [401] * 10 + [429]
    limited = _login(client, user.email)  # even the right password waits now
    assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limited"


def test_api_keys_are_shown_once_stored_hashed_and_revocable(session: Session) -> None:
    user = _user(session)
    client = client_for(app_for(session))
    csrf = _login(client, user.email).json()["csrf_token"]
    created = client.post("/auth/api-keys", json={"name": "laptop"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    row = session.get(ApiKey, created.json()["id"])
    assert row is not None and row.key_hash == auth_service.token_hash(secret) and secret.startswith(row.prefix)
    assert "key" not in client.get("/auth/api-keys").json()[0]

    bearer = client_for(app_for(session), secret)
    assert bearer.get("/auth/me").json()["id"] == user.id
    assert bearer.post("/leads", json={"last_name": "By key"}).status_code == 201  # no CSRF for bearer calls
    assert bearer.delete(f"/auth/api-keys/{row.id}").status_code == 204
    revoked = bearer.get("/auth/me")
    assert revoked.status_code == 401 and error_of(revoked)["code"] == "unauthenticated"
    assert client_for(app_for(session), "sa_forged").get("/auth/me").status_code == 401


def test_short_passwords_are_refused(session: Session) -> None:
    user = factories.user(session)
    with pytest.raises(InvalidInput) as exc:
        auth_service.set_password(session, user.email, "short")
    assert exc.value.field == "password"


def test_users_cli_creates_a_user_who_can_sign_in(scratch_db: Any) -> None:
    from core.db.engine import get_engine, session_factory

    runner = CliRunner()
    cli_main._register()
    created = runner.invoke(cli_main.app, ["users", "create", "ceo@example.test", "--role", "admin",
                                           "--name", "Cee", "--password", PASSWORD])
    assert created.exit_code == 0, created.output
    key = runner.invoke(cli_main.app, ["users", "api-key", "ceo@example.test", "--name", "ops"])
    assert key.exit_code == 0, key.output
    secret = key.output.strip().splitlines()[-1]
    assert secret.startswith("sa_")
    reset = runner.invoke(cli_main.app, ["users", "set-password", "ceo@example.test", "--password", "another pw 2"])
    assert reset.exit_code == 0, reset.output
    with session_factory(get_engine())() as session:
        app = app_for(session)
        assert client_for(app, secret).get("/auth/me").json()["role"] == "admin"
        client = client_for(app)
        assert _login(client, "ceo@example.test").status_code == 401
        assert _login(client, "ceo@example.test", "another pw 2").status_code == 200
